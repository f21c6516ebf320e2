"""A search's self-attention cache, grown in stages, and the loop around it.

A cache of static shape (compilers need one) costs every step in proportion
to its length: each step reads it, and beam search reorders it. The searches
therefore start with a short cache and grow it when the output reaches its
end (`cache_stages`); `staged_while_loop` runs one `keras.ops.while_loop`
per stage, and `loop_until` one loop up to a given position.
"""

from keras import ops


def cache_stages(max_length, first_stage, longest=None):
    """Cache lengths of a search: `first_stage`, doubling, up to `max_length`.

    With stages, a step costs in proportion to the length generated so far,
    within a factor of 2, instead of to the longest output allowed.

    A search length known only at run time (a tensor, in an exported graph
    whose sources have no static length) stages up to `longest`, its static
    bound; the search stops at the tensor length inside whichever stage it
    falls. Without `longest` it keeps one cache of `max_length`.
    """
    if first_stage is None:
        return [max_length]
    if not isinstance(max_length, int):
        if longest is None:
            return [max_length]
        max_length = longest
    stages = [min(first_stage, max_length)]
    while stages[-1] < max_length:
        stages.append(min(2 * stages[-1], max_length))
    return stages


def staged_while_loop(
    keep_going,
    step,
    state,
    max_length,
    resize_cache=None,
    first_stage=16,
    longest=None,
    compile_step=None,
):
    """`keras.ops.while_loop` over output positions, one loop per cache stage.

    Args:
        keep_going: `keep_going(state) -> bool tensor`.
        step: `step(state) -> state`, one output position.
        state: a NamedTuple with an `index` field (the position the next
            step reads) and a `cache` field.
        max_length: number of output positions: an int, or a scalar tensor
            inside a TensorFlow graph.
        resize_cache: `resize_cache(cache, length)` pads (or cuts) the cache
            to `length` positions; with it the cache is resized to each of
            `cache_stages(max_length, first_stage, longest)` before that
            stage's positions. Without it, one loop over one cache.
        first_stage, longest: see `cache_stages`.
        compile_step: optional `compile_step(step) -> step`, for a backend
            that runs the loop itself in Python (`step_compiler`).

    Returns:
        The state after the last step.
    """
    if compile_step is not None:
        step = compile_step(step)
    stages = [max_length]
    if resize_cache is not None:
        stages = cache_stages(max_length, first_stage, longest)
    start = 0
    for stage in stages:
        if resize_cache is not None:
            state = state._replace(cache=resize_cache(state.cache, stage))
        iterations = stage - start if isinstance(stage, int) else stage
        state = loop_until(keep_going, step, state, stage, iterations)
        start = stage
    return state


def loop_until(keep_going, step, state, end, maximum_iterations=None):
    """`keras.ops.while_loop` of `step` while `state.index < end` and
    `keep_going(state)`; `end` may be a tensor. Returns the last state."""
    (state,) = ops.while_loop(
        lambda state: ops.logical_and(state.index < end, keep_going(state)),
        lambda state: (step(state),),
        (state,),
        maximum_iterations=maximum_iterations,
    )
    return state
