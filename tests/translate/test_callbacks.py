"""The pipeline's callbacks: the learning-rate schedule by the clock, inside
a real `fit`, and the best model's inference copy."""

import keras
import numpy as np
import pytest

from keras_seq2seq.translate import callbacks
from keras_seq2seq.translate.model import Translator


class FakeTime:
    """Stands in for the `time` module of `callbacks`: `now` is the clock."""

    now = 0.0

    @classmethod
    def monotonic(cls):
        return cls.now


@pytest.fixture
def clock(monkeypatch):
    FakeTime.now = 0.0
    monkeypatch.setattr(callbacks, "time", FakeTime)
    return FakeTime


def sgd_model(learning_rate):
    """y = w x with w = 0, trained by SGD on the squared error."""
    model = keras.Sequential(
        [keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    model.build((None, 1))
    return model


def test_schedule_holds_then_falls_to_final(clock):
    model = sgd_model(0.1)
    anneal = callbacks.TimeAnnealedLearningRate(
        seconds=100.0, learning_rate=1.0, hold=0.5, final=0.02, steps=50
    )
    anneal.set_model(model)
    anneal.on_train_begin()
    rates = []
    for now in (0.0, 50.0, 51.5, 75.5, 100.0, 500.0):
        clock.now = now
        anneal.on_train_batch_begin(0)
        rates.append(float(model.optimizer.learning_rate))
    # 51.5 s: the first of 50 steps (0.98 / 50 lower); 75.5 s: half way down.
    np.testing.assert_allclose(rates, [1.0, 1.0, 0.9804, 0.51, 0.02, 0.02], rtol=1e-6)


def test_without_seconds_the_rate_is_reset_and_kept(clock):
    model = sgd_model(0.1)
    model.optimizer.learning_rate.assign(0.5)  # as restored from a checkpoint
    anneal = callbacks.TimeAnnealedLearningRate(seconds=None, learning_rate=0.1)
    anneal.set_model(model)
    anneal.on_train_begin()
    clock.now = 1e6
    anneal.on_train_batch_begin(0)
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 0.1)


def test_fit_uses_the_new_rate_from_the_next_batch(clock):
    """Two batches of x = y = 1 in one epoch. The first runs at 0.1 (w: 0 ->
    0.2); the clock is then past the budget, so the second runs at 0.002
    (w: 0.2 -> 0.2032). A rate that only took effect at the epoch's end (JAX
    without the state write-back) would give 0.36."""

    class Tick(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock.now += 10.0

    model = sgd_model(1.0)  # replaced by the schedule at the first batch
    anneal = callbacks.TimeAnnealedLearningRate(
        seconds=10.0, learning_rate=0.1, hold=0.0, final=0.02, steps=1
    )
    x = np.ones((2, 1), "float32")
    model.fit(
        x,
        x,
        batch_size=1,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[anneal, Tick()],
    )
    np.testing.assert_allclose(model.get_weights()[0], [[0.2032]], rtol=1e-5)


@pytest.mark.parametrize("argument", [{"hold": 1.0}, {"final": 1.5}, {"steps": 0}])
def test_invalid_arguments(argument):
    with pytest.raises(ValueError, match=list(argument)[0]):
        callbacks.TimeAnnealedLearningRate(10.0, 0.1, **argument)


def test_best_model_saves_a_float32_copy_when_val_loss_improves(tmp_path):
    keras.utils.set_random_seed(0)
    model = Translator(
        12,
        12,
        embedding_dim=4,
        encoder_units=4,
        decoder_units=8,
        encoder_layers=1,
        dtype="mixed_bfloat16",
    )
    model.build()
    path = tmp_path / "model.keras"
    best = callbacks.BestModel(path, initial_best=2.0)
    best.set_model(model)
    best.on_epoch_end(0, {"val_loss": 2.5})
    assert not best.improved and best.best == 2.0 and not path.exists()
    best.on_epoch_end(1, {"val_loss": 1.5})
    assert best.improved and best.best == 1.5
    saved = keras.saving.load_model(path, compile=False)
    assert {layer.dtype_policy.name for layer in saved._flatten_layers()} == {"float32"}
    for got, want in zip(saved.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert not (tmp_path / "partial.model.keras").exists()
