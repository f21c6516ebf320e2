"""Compiling the body of a search loop, on the backend that needs it: PyTorch.

JAX and TensorFlow compile a whole search, loop included (`Generator`'s
`predict_step` under `jax.jit` or `tf.function`). On PyTorch,
`keras.ops.while_loop` is a Python loop whose condition is read back from
the device at every step; `torch.compile` of the whole search breaks its
graph there and recompiles for every step index, so it never finishes
compiling a search of useful length. What torch can compile is the loop's
body: one step of the search (the decoder step with its cache, the beam
bookkeeping) becomes one compiled graph, called once per output position.
This module is the one place in decoding that imports a backend (the
package's ruff.toml and tests/layering_test.py allow it here alone).
"""

import keras

from keras_transformer.models.train_step_compiler import GuardedOnce


def search_step_compiler(jit_compile):
    """The `compile_step` a search gets from `Generator(jit_compile=...)`.

    Returns `None` (the step runs as written) except on PyTorch with
    `jit_compile=True`, where it returns a function that compiles a step
    with `torch.compile(step, dynamic=False)`: each shape (batch, source
    length, cache stage) compiles once, on first use. Torch keeps
    `torch._dynamo.config.recompile_limit` (8) compiled versions of a step
    function and runs further shapes eagerly, with a warning; raise it when
    translating many shapes.

    Within a search, dynamo's guards run in full on the first step of each
    state shape only (`GuardedOnce`): through Keras' layers they are
    thousands of checks, which take longer than a small model's step
    computes.

    The very first step runs eagerly. A Keras layer records its name-scope
    path on its first call; dynamo guards on that attribute, so a step that
    compiled while the decoder's layers had never been called (a model just
    loaded) would compile again at the next step.
    """
    if jit_compile is not True or keras.backend.backend() != "torch":
        return None

    layers_called = False

    def compile_step(step):
        compiled = GuardedOnce(step)

        def run_step(state):
            nonlocal layers_called
            if layers_called:
                return compiled(state)
            layers_called = True
            return step(state)

        return run_step

    return compile_step
