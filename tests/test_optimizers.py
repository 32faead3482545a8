import keras
import numpy as np
import pytest
from keras import ops

from keras_seq2seq.optimizers import FusedAdam

RNG = np.random.default_rng(0)
SHAPES = [(3, 4), (4,), (2, 3, 5)]


def train(optimizer, steps=6):
    """Weights after `steps` updates with fixed random gradients."""
    weights = [keras.Variable(RNG.normal(size=s).astype("float32")) for s in SHAPES]
    grads = [
        [RNG.normal(size=s).astype("float32") for s in SHAPES] for _ in range(steps)
    ]
    for step_grads in grads:
        optimizer.apply([ops.convert_to_tensor(g) for g in step_grads], weights)
    return [ops.convert_to_numpy(w) for w in weights]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3},
        {"clipnorm": 0.5},
        {"weight_decay": 0.01},
        {"amsgrad": True},
    ],
    ids=["defaults", "hyperparameters", "clipnorm", "weight_decay", "amsgrad"],
)
def test_fused_adam_updates_as_keras_adam(kwargs):
    state = RNG.bit_generator.state
    want = train(keras.optimizers.Adam(**kwargs))
    RNG.bit_generator.state = state
    got = train(FusedAdam(**kwargs))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_fused_kernel_on_torch_only():
    fused = keras.backend.backend() == "torch"
    assert FusedAdam().fused == fused
    assert not FusedAdam(amsgrad=True).fused


def test_fused_adam_serializes():
    optimizer = FusedAdam(learning_rate=0.01, clipnorm=1.0, amsgrad=True)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(optimizer)
    )
    assert type(restored) is FusedAdam
    assert restored.get_config() == optimizer.get_config()


def test_fused_adam_trains_a_model_and_reloads(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=FusedAdam(0.01), loss="mse")
    x, y = RNG.normal(size=(16, 3)), RNG.normal(size=(16, 2))
    history = model.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert type(restored.optimizer) is FusedAdam
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


def test_fused_adam_in_a_compiled_train_step():
    # jit_compile=True: XLA on JAX and TensorFlow, torch.compile on torch (which
    # cannot trace the fused kernel: the traced step gets Keras' update).
    x = RNG.normal(size=(32, 3)).astype("float32")
    y = RNG.normal(size=(32, 2)).astype("float32")

    def fit(optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(4, "tanh"), keras.layers.Dense(2)]
        )
        model.compile(optimizer=optimizer, loss="mse", jit_compile=True)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()

    for got, want in zip(fit(FusedAdam(0.01)), fit(keras.optimizers.Adam(0.01))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
