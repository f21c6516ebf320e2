"""The paper's Adam optimizer."""

import keras


def make_optimizer(learning_rate, gradient_accumulation_steps=None, clipnorm=None):
    """Adam with the hyperparameters of Vaswani et al. 2017, §5.3.

    β1 = 0.9, β2 = 0.98, ε = 1e-9. Gradient accumulation is Keras' own
    (`keras.optimizers.Optimizer(gradient_accumulation_steps=...)`): the
    weights change every `gradient_accumulation_steps` batches, by the mean
    of their gradients, which emulates a batch that many times larger
    (each batch's loss being its own token mean, the batches weigh equally
    whatever their token counts).

    With accumulation over `k` batches Keras still calls a learning-rate
    schedule with the batch count, so update `u` reads it at
    `iterations = k * u - 1`. To keep the paper's schedule in updates, pass
    `TransformerSchedule(hidden_dim, warmup_steps=k * w, scale=s * k**0.5)`
    for warmup `w` updates and scale `s`.

    Args:
        learning_rate: a float or a `LearningRateSchedule` (usually
            `TransformerSchedule`).
        gradient_accumulation_steps: `None`, or an int >= 2: batches whose
            gradients are averaged into one update.
        clipnorm: `None`, or the maximum norm of each variable's gradient.

    Returns:
        A `keras.optimizers.Adam`.

    Example:

    >>> from keras_transformer.training import TransformerSchedule
    >>> optimizer = make_optimizer(TransformerSchedule(hidden_dim=512))
    >>> optimizer.beta_2
    0.98
    """
    return keras.optimizers.Adam(
        learning_rate=learning_rate,
        beta_1=0.9,
        beta_2=0.98,
        epsilon=1e-9,
        clipnorm=clipnorm,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
