"""A compiled train step on PyTorch: the forward pass and the update as graphs.

Keras' PyTorch trainer, with `compile(jit_compile=True)`, wraps its whole
`train_step` in `torch.compile`. Dynamo then breaks that graph at
`loss.backward()` and, with dropout, at every seeded dropout call, re-guards
the frames resumed after each break on layer attributes, and hits its
recompile limit before the step warms up. What torch compiles well is what a
native PyTorch training loop compiles: the forward pass with its loss, as
one graph (autograd then runs the compiled backward graph), and the
parameter update as another.

`compiled_train_function(model)` builds that step from the model's public
pieces, keeping Keras' contract: the loss is `model.compute_loss` (so a
replaced `compute_loss` still applies), gradients go through
`optimizer.scale_loss` and `optimizer.apply`, the loss is tracked by the
compiled model's loss metric, and the logs are `model.compute_metrics`, as
in Keras' own `train_step`. `tests/train_step_compiler_test.py` checks it
against eager training, so a Keras release that changes what it relies on
fails there.

This module and `keras_transformer/decoding/step_compiler.py` are the
places outside data and export that import a backend (ruff.toml and
tests/layering_test.py allow them alone).
"""

import keras


def wants_compiled_train_step(model):
    """Whether `model`'s train function should be `compiled_train_function`:
    on PyTorch, with `jit_compile=True`."""
    return keras.backend.backend() == "torch" and model.jit_compile is True


def compiled_train_function(model):
    """The train function `fit` and `train_on_batch` call on PyTorch.

    Takes `[batch]` (PyTorch's `steps_per_execution` is 1) and returns the
    logs, as Keras' own train function does. The forward pass with the loss
    compiles once per batch shape (`dynamic=False`: the length buckets of
    the data pipeline are few), the update once. The first call runs Keras'
    own eager `train_step`: it builds the optimizer and metrics, and a Keras
    layer sets attributes on its first call that dynamo would otherwise
    guard on and recompile for.
    """
    import torch

    optimizer = model.optimizer
    loss_tracker = _loss_tracker(model)

    def forward(x, y, sample_weight):
        y_pred = model(x, training=True)
        loss = model.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        # The loss and the metrics of the batch: they read no weight, so they
        # belong here, where the batch shape is, not in the update.
        batch_size = next(i for i in keras.tree.flatten(x) if i is not None).shape[0]
        loss_tracker.update_state(
            keras.ops.stop_gradient(loss), sample_weight=batch_size
        )
        logs = model.compute_metrics(
            x, y, keras.ops.stop_gradient(y_pred), sample_weight=sample_weight
        )
        return loss, logs

    def update(gradients):
        optimizer.apply(gradients, model.trainable_weights)

    compiled_forward = torch.compile(forward, dynamic=False)
    compiled_update = torch.compile(update, dynamic=False)
    first_call = True

    def train_function(data):
        nonlocal first_call
        (data,) = data
        if first_call:
            first_call = False
            return model.train_step(data)
        # NumPy batches (train_on_batch) become tensors here: dynamo breaks
        # the graph where it meets a NumPy array.
        data = keras.tree.map_structure(_as_tensor, data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with torch._dynamo.config.patch(recompile_limit=_RECOMPILE_LIMIT):
            loss, logs = compiled_forward(x, y, sample_weight)
            model.zero_grad(set_to_none=True)
            optimizer.scale_loss(loss).backward()
            with torch.no_grad():
                compiled_update([v.value.grad for v in model.trainable_weights])
        return logs

    return train_function


# Compiled versions of the forward pass kept (one per batch shape); torch's
# default, 8, is fewer than a length-bucketed corpus has shapes.
_RECOMPILE_LIMIT = 64


def _as_tensor(value):
    return value if value is None else keras.ops.convert_to_tensor(value)


def _loss_tracker(model):
    """The compiled model's loss metric, which Keras' `train_step` updates
    with each batch's loss: `model.metrics` lists it first, named "loss"."""
    metrics = model.metrics
    tracker = metrics[0] if metrics else None
    if tracker is None or tracker.name != "loss":
        raise RuntimeError(
            "The compiled train step needs a compiled model whose first metric "
            "is Keras' loss tracker; call model.compile(...) first."
        )
    return tracker
