"""Test setup. The suite runs once per backend: `KERAS_BACKEND` picks it."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_reset():
    """Every test starts from the same seed and the float32 policy."""
    keras.utils.set_random_seed(1337)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def tokenizer():
    """A 60-piece SentencePiece model of 200 pairs like the built-in corpus's
    (a test module may define its own)."""
    from keras_transformer.data.tokenizer import SubwordTokenizer  # TensorFlow
    from tests.data_helpers import make_pairs

    pairs = make_pairs(200)
    return SubwordTokenizer.train((s for pair in pairs for s in pair), 60)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend: {keras.backend.backend()}"
