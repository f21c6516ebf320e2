"""The same weights give the same outputs on TensorFlow, JAX and PyTorch."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_transformer import Transformer
from tests.harness import to_numpy

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
BACKENDS = ("tensorflow", "jax", "torch")


def test_logits_match_the_fixture_written_on_another_backend():
    fixture = np.load(os.path.join(FIXTURES, "parity.npz"))
    model = Transformer(**json.loads(str(fixture["config"])))
    stored = {
        k.removeprefix("weight/") for k in fixture.files if k.startswith("weight/")
    }
    assert {v.path for v in model.weights} == stored, "weight paths changed"
    for variable in model.weights:
        variable.assign(fixture[f"weight/{variable.path}"])
    inputs = {
        k.removeprefix("input/"): fixture[k]
        for k in fixture.files
        if k.startswith("input/")
    }
    np.testing.assert_allclose(to_numpy(model(inputs)), fixture["logits"], atol=1e-5)


@pytest.mark.parametrize("other", [b for b in BACKENDS if b != keras.backend.backend()])
def test_keras_file_saved_on_another_backend_loads_here(tmp_path, other):
    env = {**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(FIXTURES, "save_model_on_backend.py"),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sys.path.insert(0, FIXTURES)
    try:
        from make_parity_fixture import build_inputs
    finally:
        sys.path.remove(FIXTURES)
    # The float model, and the same model quantized to int8 there.
    for model_file, logits_file in (
        ("model.keras", "logits.npy"),
        ("int8.keras", "int8_logits.npy"),
    ):
        model = keras.saving.load_model(tmp_path / model_file, safe_mode=True)
        np.testing.assert_allclose(
            to_numpy(model(build_inputs())), np.load(tmp_path / logits_file), atol=1e-5
        )
    assert model.quantization == "int8"
