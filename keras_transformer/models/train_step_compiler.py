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

    def update(gradients, variables):
        optimizer.apply(gradients, variables)

    compiled_forward = GuardedOnce(forward)
    # The update's gradients follow from its variables: telling its calls
    # apart by the variables (and which gradients are missing) is enough,
    # and cheaper than the shapes of every gradient.
    compiled_update = GuardedOnce(
        update,
        signature=lambda gradients, variables: (
            tuple(map(id, variables)),
            tuple(gradient is None for gradient in gradients),
        ),
    )
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
        variables = model.trainable_weights
        parameters = [variable.value for variable in variables]
        with torch._dynamo.config.patch(recompile_limit=_RECOMPILE_LIMIT):
            loss, logs = compiled_forward(x, y, sample_weight)
            for parameter in parameters:
                parameter.grad = None
            optimizer.scale_loss(loss).backward()
            with torch.no_grad():
                compiled_update([p.grad for p in parameters], variables)
        return logs

    return train_function


class GuardedOnce:
    """`torch.compile(function, dynamic=False)`, whose guards run once per
    input signature.

    Before each call of a compiled function, dynamo checks its guards: that
    everything the traced code read still is what it was. Through Keras'
    layers that is thousands of checks (each layer's attributes, dtype
    policy, call context), about 1.5 ms a call on a 2-core CPU: more than a
    small model's search step computes. Here they run in full on the first
    call with a given signature (the shapes, strides, dtypes and devices of
    the tensors passed, and the other arguments: `call_signature`); later
    calls with that signature run only the guards that tell the compiled
    versions apart (`torch.compiler.set_stance(skip_guard_eval_unsafe=True)`).

    This is the contract Keras' compiled functions have on JAX and
    TensorFlow, which trace once per input signature: a Python attribute
    changed after that (a dropout rate, a layer's `trainable`) is not seen
    until the function is built again (`make_train_function`, a new search).

    Args:
        function: the function to compile.
        signature: `signature(*args)`, a hashable value that differs
            wherever the guards could (`call_signature` of the arguments by
            default).
        **options: more `torch.compile` arguments (`mode`, `options`).
    """

    def __init__(self, function, signature=None, **options):
        import torch

        self._compiled = torch.compile(function, dynamic=False, **options)
        self._signature = signature or (lambda *args: call_signature(args))
        self._checked = set()
        self._set_stance = torch.compiler.set_stance

    def __call__(self, *args):
        signature = self._signature(*args)
        if signature in self._checked:
            with self._set_stance(skip_guard_eval_unsafe=True):
                return self._compiled(*args)
        outputs = self._compiled(*args)
        self._checked.add(signature)
        return outputs


def call_signature(structure):
    """What a compiled function's guards tell calls apart by, as a hashable
    value: the nesting of lists, tuples (named ones by their class) and
    dicts, each tensor's shape, strides, dtype and device (not its values),
    each Python number, string or `None` as itself, and the identity of any
    other leaf. Plain recursion: a search step's state is signed each step,
    and `keras.tree.flatten_with_path` took 0.5 ms for it on a 2-core CPU."""
    from torch import Tensor

    def sign(node):
        if isinstance(node, Tensor):
            return (node.shape, node.stride(), node.dtype, node.device)
        if isinstance(node, (list, tuple)):
            return (type(node), tuple(map(sign, node)))
        if isinstance(node, dict):
            items = tuple((key, sign(value)) for key, value in node.items())
            return (type(node), items)
        if node is None or isinstance(node, (bool, int, float, str)):
            return (type(node), node)
        return (type(node), id(node))

    return sign(structure)


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
