"""The warmup, then inverse square root, learning-rate schedule."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate of Vaswani et al. 2017, §5.3, eq. 3.

    `lrate = scale * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)`:
    linear warmup for `warmup_steps` updates, then decay with the inverse
    square root of the step number.

    Step numbering: Keras optimizers call the schedule with
    `optimizer.iterations`, which is 0 for the first update. The schedule
    uses `step = iterations + 1`, the 1-based number of the update, so the
    first update gets `scale * d_model^-0.5 * warmup_steps^-1.5` (not zero)
    and the peak, `scale * (d_model * warmup_steps)^-0.5`, is the
    `warmup_steps`-th update: `schedule(warmup_steps - 1)`.

    With gradient accumulation over `k` micro-batches Keras calls the
    schedule with the micro-batch count, and update `u` reads the schedule
    at `iterations = k * u - 1`. `TransformerSchedule(hidden_dim,
    warmup_steps=k * w, scale=scale * k**0.5)` then gives update `u` exactly
    the paper's rate for warmup `w` (see `make_optimizer`).

    The arithmetic is float32 whatever the model's dtype policy.

    Args:
        hidden_dim: the model width d_model.
        warmup_steps: updates of linear warmup (4000 in the paper).
        scale: a factor on the whole schedule (1.0 in the paper).

    Call arguments:
        step: the optimizer's `iterations` (0-based), a Python int or a
            scalar tensor.

    Returns:
        The learning rate, a float32 scalar tensor.

    Example:

    >>> schedule = TransformerSchedule(hidden_dim=512, warmup_steps=4000)
    >>> round(float(schedule(3999)), 6)  # the peak: (512 * 4000) ** -0.5
    0.000699
    >>> optimizer = keras.optimizers.Adam(schedule)
    """

    def __init__(self, hidden_dim, warmup_steps=4000, scale=1.0):
        if hidden_dim <= 0 or warmup_steps <= 0:
            raise ValueError(
                "hidden_dim and warmup_steps must be positive. Received: "
                f"hidden_dim={hidden_dim}, warmup_steps={warmup_steps}."
            )
        self.hidden_dim = hidden_dim
        self.warmup_steps = warmup_steps
        self.scale = scale

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        warmup_steps = ops.cast(self.warmup_steps, "float32")
        hidden_dim = ops.cast(self.hidden_dim, "float32")
        decay = ops.rsqrt(step)
        warmup = step * ops.power(warmup_steps, -1.5)
        return self.scale * ops.rsqrt(hidden_dim) * ops.minimum(decay, warmup)

    def get_config(self):
        return {
            "hidden_dim": self.hidden_dim,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
        }
