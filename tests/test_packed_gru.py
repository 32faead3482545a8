"""PackedGRU against keras.layers.GRU with the same weights, on every backend
(on torch the masked, right-padded cases run the fused path): outputs, states,
a training step, the fallbacks, symbolic use and saving."""

import keras
import numpy as np
import pytest

from keras_seq2seq.layers import PackedGRU

RNG = np.random.default_rng(0)
BATCH, TIME, FEATURES, UNITS = 5, 6, 3, 4
LENGTHS = np.array([6, 3, 1, 4, 6])
RIGHT_PADDED = np.arange(TIME)[None] < LENGTHS[:, None]


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def twin_layers(wrap=lambda layer: layer, **kwargs):
    """A keras GRU and a PackedGRU (each optionally wrapped), same weights."""
    ours = wrap(PackedGRU(UNITS, **kwargs))
    theirs = wrap(keras.layers.GRU(UNITS, **kwargs))
    for layer in (ours, theirs):
        layer.build((None, None, FEATURES))
    weights = [RNG.normal(size=w.shape).astype("float32") for w in theirs.weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def assert_same(ours, theirs):
    ours, theirs = keras.tree.flatten(ours), keras.tree.flatten(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(numpy(a), numpy(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_matches_keras_gru_on_right_padded_batches(
    go_backwards, zero_output_for_mask, return_sequences
):
    ours, theirs = twin_layers(
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        return_sequences=return_sequences,
        return_state=True,
    )
    x = RNG.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    state = RNG.normal(size=(BATCH, UNITS)).astype("float32")
    for kwargs in ({}, {"initial_state": state}):
        assert_same(
            ours(x, mask=RIGHT_PADDED, **kwargs), theirs(x, mask=RIGHT_PADDED, **kwargs)
        )


@pytest.mark.parametrize(
    "mask",
    [
        RIGHT_PADDED & (np.arange(TIME) != 1),  # a hole: not right padding
        RIGHT_PADDED & (LENGTHS[:, None] > 1),  # a row without a real step
        None,
    ],
    ids=["hole", "empty-row", "no-mask"],
)
def test_other_masks_run_the_keras_loop(mask):
    ours, theirs = twin_layers(
        keras.layers.Bidirectional, return_sequences=True, return_state=True
    )
    x = RNG.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    assert_same(ours(x, mask=mask), theirs(x, mask=mask))


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "compiled"])
def test_a_training_step_matches_keras_gru(jit_compile):
    """Same weights after one SGD step: the gradients agree, through both
    directions of a Bidirectional encoder fed by a masking Embedding, run
    eagerly and compiled (XLA; `torch.compile` on torch, where packing is
    skipped)."""
    ids = np.where(RIGHT_PADDED, RNG.integers(1, 9, size=(BATCH, TIME)), 0)
    targets = RNG.normal(size=(BATCH, 2 * UNITS)).astype("float32")

    def model(gru_class):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(9, FEATURES, mask_zero=True)(inputs)
        x = keras.layers.Bidirectional(gru_class(UNITS, return_sequences=True))(x)
        x = keras.layers.Bidirectional(gru_class(UNITS))(x)
        model = keras.Model(inputs, x)
        model.compile(
            optimizer=keras.optimizers.SGD(0.5), loss="mse", jit_compile=jit_compile
        )
        return model

    ours, theirs = model(PackedGRU), model(keras.layers.GRU)
    initial = theirs.get_weights()
    ours.set_weights(initial)
    for model_ in (ours, theirs):
        model_.fit(ids, targets, batch_size=BATCH, epochs=1, verbose=0)
    assert_same(ours.get_weights(), theirs.get_weights())
    assert not np.allclose(ours.get_weights()[1], initial[1])


def test_dropout_in_training_runs_the_keras_loop():
    layer = PackedGRU(UNITS, dropout=0.5)
    x = np.ones((BATCH, TIME, FEATURES), "float32")
    first = numpy(layer(x, mask=RIGHT_PADDED, training=True))
    assert not np.allclose(first, numpy(layer(x, mask=RIGHT_PADDED)))


def test_symbolic_use_and_saving(tmp_path):
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(9, FEATURES, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(PackedGRU(UNITS, return_sequences=True))(x)
    model = keras.Model(inputs, x)
    assert model.output_shape == (None, None, 2 * UNITS)
    ids = np.where(RIGHT_PADDED, RNG.integers(1, 9, size=(BATCH, TIME)), 0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[2].forward_layer, PackedGRU)
    assert loaded.layers[2].forward_layer.get_config() == (
        model.layers[2].forward_layer.get_config()
    )
    np.testing.assert_allclose(
        numpy(loaded.predict(ids, verbose=0)), numpy(model.predict(ids, verbose=0))
    )


def test_only_torch_runs_right_padded_batches_without_the_keras_loop(monkeypatch):
    def keras_loop(*args, **kwargs):
        raise AssertionError("ran Keras' loop")

    layer = keras.layers.Bidirectional(PackedGRU(UNITS, return_sequences=True))
    layer.build((None, None, FEATURES))
    monkeypatch.setattr(keras.layers.GRU, "inner_loop", keras_loop)
    x = RNG.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    if keras.backend.backend() == "torch":
        assert tuple(layer(x, mask=RIGHT_PADDED).shape) == (BATCH, TIME, 2 * UNITS)
    else:
        with pytest.raises(AssertionError, match="ran Keras' loop"):
            layer(x, mask=RIGHT_PADDED)
