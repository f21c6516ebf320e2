import keras
import numpy as np
import pytest

from keras_transformer.training import TransformerSchedule, make_optimizer
from tests.harness import to_numpy


def paper_rate(step, hidden_dim, warmup_steps, scale=1.0):
    """Vaswani et al. 2017, eq. 3, with a 1-based step."""
    step = np.asarray(step, "float64")
    return scale * hidden_dim**-0.5 * np.minimum(step**-0.5, step * warmup_steps**-1.5)


def test_peak_is_the_warmup_steps_th_update():
    schedule = TransformerSchedule(hidden_dim=512, warmup_steps=4000)
    # iterations == warmup_steps - 1 is update number warmup_steps.
    peak = float(to_numpy(schedule(3999)))
    np.testing.assert_allclose(peak, (512 * 4000) ** -0.5, rtol=1e-6)
    iterations = np.arange(0, 20000, 7)
    rates = to_numpy(schedule(keras.ops.convert_to_tensor(iterations)))
    assert peak >= rates.max()
    assert float(to_numpy(schedule(3998))) < peak
    assert float(to_numpy(schedule(4000))) < peak


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_values_match_the_formula(scale):
    schedule = TransformerSchedule(hidden_dim=64, warmup_steps=100, scale=scale)
    for iterations in [0, 1, 49, 99, 100, 500, 12345]:
        value = to_numpy(schedule(iterations))
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        np.testing.assert_allclose(
            value, paper_rate(iterations + 1, 64, 100, scale), rtol=1e-5
        )
    # The first update does not get a zero learning rate.
    assert float(to_numpy(schedule(0))) > 0.0


def test_increases_then_decreases():
    schedule = TransformerSchedule(hidden_dim=32, warmup_steps=50)
    rates = to_numpy(schedule(keras.ops.arange(200)))
    np.testing.assert_allclose(rates, paper_rate(np.arange(1, 201), 32, 50), rtol=1e-5)
    assert np.all(np.diff(rates[:50]) > 0)
    assert np.all(np.diff(rates[49:]) < 0)
    assert int(np.argmax(rates)) == 49


def test_serialization_round_trip():
    schedule = TransformerSchedule(hidden_dim=256, warmup_steps=123, scale=0.5)
    config = schedule.get_config()
    assert config == {"hidden_dim": 256, "warmup_steps": 123, "scale": 0.5}
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert isinstance(revived, TransformerSchedule)
    assert revived.get_config() == config
    np.testing.assert_allclose(to_numpy(revived(77)), to_numpy(schedule(77)))


def test_rejects_nonpositive_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        TransformerSchedule(hidden_dim=8, warmup_steps=0)


def _run_steps(optimizer, num_steps):
    variable = keras.Variable(np.ones((3,), "float32"))
    for _ in range(num_steps):
        optimizer.apply_gradients([(keras.ops.ones((3,)), variable)])
    return variable


def test_inside_adam():
    schedule = TransformerSchedule(hidden_dim=16, warmup_steps=10)
    optimizer = make_optimizer(schedule, clipnorm=1.0)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
        0.9,
        0.98,
        1e-9,
    )
    assert optimizer.clipnorm == 1.0
    _run_steps(optimizer, 6)
    assert int(to_numpy(optimizer.iterations)) == 6
    # The next update is the 7th: the schedule reads iterations = 6.
    np.testing.assert_allclose(
        to_numpy(optimizer.learning_rate), paper_rate(7, 16, 10), rtol=1e-5
    )
    revived = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    config = revived.get_config()
    assert config["learning_rate"]["config"] == schedule.get_config()
    assert config["beta_2"] == 0.98
    # A fresh optimizer: the revived schedule gives update 1 its rate.
    np.testing.assert_allclose(
        to_numpy(revived.learning_rate), paper_rate(1, 16, 10), rtol=1e-5
    )


def test_first_adam_update_uses_the_first_rate():
    # Adam's first step moves each weight by about lr * sign(gradient).
    schedule = TransformerSchedule(hidden_dim=16, warmup_steps=10)
    variable = _run_steps(make_optimizer(schedule), 1)
    np.testing.assert_allclose(
        1.0 - to_numpy(variable), paper_rate(1, 16, 10) * np.ones(3), rtol=1e-4
    )


def test_gradient_accumulation_keeps_the_schedule_in_updates():
    """The recipe in `make_optimizer`'s docstring: warmup and scale scaled
    by k give update u the paper's rate for update u."""
    k, warmup = 2, 5
    schedule = TransformerSchedule(hidden_dim=16, warmup_steps=k * warmup, scale=k**0.5)
    optimizer = make_optimizer(schedule, gradient_accumulation_steps=k)
    assert optimizer.gradient_accumulation_steps == k
    variable = keras.Variable(np.ones((3,), "float32"))
    for update in range(1, 4):
        optimizer.apply_gradients([(keras.ops.ones((3,)), variable)])
        # Half way through update `update`: the weights have not moved yet,
        # and the rate read at the next (updating) batch is the paper's.
        np.testing.assert_allclose(
            to_numpy(optimizer.learning_rate),
            paper_rate(update, 16, warmup),
            rtol=1e-5,
        )
        before = to_numpy(variable).copy()
        optimizer.apply_gradients([(keras.ops.ones((3,)), variable)])
        assert not np.allclose(before, to_numpy(variable))
    assert int(to_numpy(optimizer.iterations)) == 3
