"""A one-minute demo: train a small Transformer to reverse digit strings.

Trains with `model.fit` on generated data, reports held-out accuracy, and
translates a few unseen inputs with cached greedy search
(`keras_transformer.decoding.Generator`: the encoder runs once, each step
reuses the decoder's key/value cache).
"""

import keras
import numpy as np

from keras_transformer.decoding import Generator
from keras_transformer.models.transformer import Transformer
from keras_transformer.special_tokens import END_ID as END
from keras_transformer.special_tokens import PAD_ID as PAD
from keras_transformer.special_tokens import START_ID as START

FIRST_DIGIT = 4  # ids 4..13 are the digits 0..9, after the special ids
VOCABULARY_SIZE = FIRST_DIGIT + 10


def make_reversal_data(count, max_length, seed):
    """Digit strings of 3..max_length digits and their reversals, padded."""
    rng = np.random.RandomState(seed)
    source = np.zeros((count, max_length), "int32")
    decoder_inputs = np.zeros((count, max_length + 1), "int32")
    labels = np.zeros((count, max_length + 1), "int32")
    for row in range(count):
        length = rng.randint(3, max_length + 1)
        digits = rng.randint(FIRST_DIGIT, VOCABULARY_SIZE, length)
        source[row, :length] = digits
        target = np.concatenate([digits[::-1], [END]])
        labels[row, : length + 1] = target
        decoder_inputs[row, : length + 1] = np.concatenate([[START], target[:-1]])
    inputs = {"encoder_token_ids": source, "decoder_token_ids": decoder_inputs}
    return inputs, labels, (labels != PAD).astype("float32")


def _digits(ids):
    shown = []
    for token in ids:
        if token == END:
            break
        if token >= FIRST_DIGIT:
            shown.append(str(token - FIRST_DIGIT))
    return "".join(shown)


def run_demo(epochs=8, seed=0):
    """Trains, evaluates and translates; returns the held-out accuracy."""
    keras.utils.set_random_seed(seed)
    max_length = 10
    train = make_reversal_data(8192, max_length, seed)
    valid = make_reversal_data(512, max_length, seed + 1)
    model = Transformer(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=256,
        dropout=0.0,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )
    backend, size = keras.backend.backend(), model.count_params()
    print(f"Backend: {backend}. Model: {size:,} parameters.")
    print("Training to reverse digit strings; padding has sample weight 0.")
    inputs, labels, weights = train
    model.fit(
        inputs,
        labels,
        sample_weight=weights,
        validation_data=valid,
        batch_size=64,
        epochs=epochs,
        verbose=2,
    )
    valid_inputs, valid_labels, valid_weights = valid
    accuracy = model.evaluate(
        valid_inputs,
        valid_labels,
        sample_weight=valid_weights,
        verbose=0,
        return_dict=True,
    )["accuracy"]
    print(f"Held-out token accuracy: {accuracy:.4f}")

    examples, _, _ = make_reversal_data(5, max_length, seed + 2)
    source = examples["encoder_token_ids"]
    # An output is at most as long as its source, plus the end token.
    generator = Generator(model, num_beams=1, max_length_ratio=1.0, max_length_offset=1)
    translated = generator.generate(source)["token_ids"][:, 0]
    print("Cached greedy decoding of unseen inputs:")
    for row in range(len(source)):
        print(f"  {_digits(source[row]):>10} -> {_digits(translated[row])}")
    return accuracy
