"""What training asks of `keras.Model.fit` beyond its public arguments.

`train()` runs Keras' own `fit` on every backend. Four things it needs have
no public argument, so they are done here, and nowhere else, through hooks
that Keras' `fit` reads on every backend; `tests/fit_hooks_test.py` runs
each on each backend and fails as soon as a Keras release stops honouring
one:

1. `set_initial_epoch`: a run restored from a backup starts `fit` at a later
   epoch. `fit` reads `model._initial_epoch` right after `on_train_begin`,
   the hook Keras' own `BackupAndRestore` callback sets.
2. `skip_train_steps`: a run restored mid-epoch passes over the batches it
   trained on before. Keras' `BackupAndRestore` restarts the epoch instead
   (training those batches twice). `fit` calls `model.train_function` once
   per `steps_per_execution` batches: on JAX as `(state, iterator) ->
   (logs, state)`, on TensorFlow as `(iterator) -> logs`, both pulling the
   batches from the iterator, on PyTorch as `(batches) -> logs`.
3. `use_global_batch_means`: under data parallelism each replica's loss is
   its share of the global batch's token mean, and the logged loss and
   metrics are the global batch's. The train step computes the loss with
   `model.compute_loss(x, y, y_pred, sample_weight, training)` and the logs
   with `model.get_metrics_result()`, public methods replaced here on the
   model instance (the model stays a plain `Transformer`, which is what
   translators save).
4. `sum_gradients_before_apply`: on PyTorch, where Keras has no
   distribution for `fit`, the train step hands the gradients to
   `optimizer.apply(gradients, variables)`; they are summed over the ranks
   first, as DDP would.

Keras only: each function takes the backend-specific collective as an
argument.
"""

from keras import ops


def set_initial_epoch(model, epoch):
    """Makes the `fit` that is calling `on_train_begin` start at `epoch`
    (`None`: a later `fit` starts where its `initial_epoch` says)."""
    model._initial_epoch = epoch


def skip_train_steps(model, count):
    """Makes the next `count` calls of the train function consume their
    batches without a train step (no gradient, no update, empty logs)."""
    if count <= 0:
        return
    original = model.train_function
    if original is None:
        raise RuntimeError("Cannot resume mid-epoch: fit has no train_function.")
    remaining = count

    def skip_train_step(*args):
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            model.train_function = original
        *state, batches = args  # JAX passes (state, batches).
        if hasattr(batches, "__next__"):  # JAX, TensorFlow: the step pulls.
            for _ in range(model.steps_per_execution):
                next(batches)
        # PyTorch: the loop has pulled the batch already.
        return ({}, *state) if state else {}

    skip_train_step.skipped_function = original
    model.train_function = skip_train_step


def stop_skipping(model):
    """Undoes a `skip_train_steps` that an interrupted `fit` left behind."""
    function = getattr(model, "train_function", None)
    if hasattr(function, "skipped_function"):
        model.train_function = function.skipped_function


def use_global_batch_means(model, sum_across, loss_scale=1.0):
    """Makes each replica's loss, gradient and metrics those of the global
    batch.

    Each replica's loss is a token mean over its own rows; averaging those
    means would weigh a token by how many tokens its replica happened to
    get. Instead every replica's loss becomes its share of the global token
    mean, `loss_r * n_r / sum(n)` with `n_r` its (sample-weighted) label
    tokens, so gradients summed over replicas equal the gradient of the
    global batch's token mean, as on one device. The value each replica
    reports is the global mean itself, and the metric states are summed over
    the replicas before their results are computed, so logs are those of
    the global batch.

    Args:
        model: a compiled model whose loss has a `padding_id` (the token
            count needs it; without one only the metrics are summed).
        sum_across: `sum_across(tensors)` returns the tensors summed over all
            replicas, or `None` where there is nothing to sum (outside a
            replica context).
        loss_scale: the factor Keras already multiplied each replica's loss
            by (TensorFlow: `1 / replicas`); gradients are then summed.
    """
    padding_id = getattr(model.loss, "padding_id", None)
    compute_loss = model.compute_loss
    get_metrics_result = model.get_metrics_result

    def global_token_mean(
        x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = compute_loss(x, y, y_pred, sample_weight, training=training)
        local = loss / loss_scale
        tokens = _label_tokens(y, sample_weight, padding_id)
        summed = sum_across([tokens, ops.stop_gradient(local) * tokens])
        if summed is None:
            return loss
        total, weighted = summed
        share = local * ops.divide_no_nan(tokens, total)
        global_mean = ops.divide_no_nan(weighted, total) * loss_scale
        # Valued the global mean; differentiated as this replica's share.
        return share + ops.stop_gradient(global_mean - share)

    def summed_metrics_result():
        metrics = model.metrics
        states = [ops.convert_to_tensor(v) for m in metrics for v in m.variables]
        summed = sum_across(states)
        if summed is None:
            return get_metrics_result()
        results, start = {}, 0
        for metric in metrics:
            end = start + len(metric.variables)
            result = metric.stateless_result(list(summed[start:end]))
            start = end
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    if padding_id is not None:
        model.compute_loss = global_token_mean
    model.get_metrics_result = summed_metrics_result


def _label_tokens(labels, sample_weight, padding_id):
    """The weight the loss divides by: non-padding labels, times their
    sample weights, summed (a float32 scalar)."""
    labels = ops.convert_to_tensor(labels)
    weights = ops.cast(ops.not_equal(labels, padding_id), "float32")
    if sample_weight is not None:
        sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        while len(sample_weight.shape) > len(weights.shape):
            sample_weight = ops.squeeze(sample_weight, axis=-1)
        while len(sample_weight.shape) < len(weights.shape):
            sample_weight = ops.expand_dims(sample_weight, axis=-1)
        weights = weights * sample_weight
    return ops.sum(weights)


def sum_gradients_before_apply(optimizer, sum_gradients):
    """Makes `optimizer.apply(gradients, variables)` apply
    `sum_gradients(gradients, variables)` instead (PyTorch's train step
    passes the variables with their gradients)."""
    apply = optimizer.apply

    def apply_summed_gradients(gradients, trainable_variables=None):
        return apply(sum_gradients(gradients, trainable_variables), trainable_variables)

    optimizer.apply = apply_summed_gradients
