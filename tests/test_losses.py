"""The token cross-entropies against Keras' own, with sample weights, masks,
serialization and argument errors."""

import keras
import numpy as np
import pytest
from conftest import gradient, np_softmax

from keras_seq2seq.losses import (
    LabelSmoothedCrossentropy,
    masked_token_crossentropy,
    token_crossentropy,
)

VOCAB = 7


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, VOCAB)).astype("float32") * 3
    targets = rng.integers(0, VOCAB, size=(3, 5))
    weights = (rng.random((3, 5)) > 0.3).astype("float32")
    return targets, logits, weights


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_matches_categorical_crossentropy_of_one_hot_targets(batch, smoothing):
    targets, logits, weights = batch
    ours = LabelSmoothedCrossentropy(smoothing)
    one_hot = np.eye(VOCAB, dtype="float32")[targets]
    keras_loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=smoothing
    )
    for kwargs in ({}, {"sample_weight": weights}):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours(targets, logits, **kwargs)),
            keras.ops.convert_to_numpy(keras_loss(one_hot, logits, **kwargs)),
            rtol=1e-5,
        )


def test_without_smoothing_it_is_sparse_categorical_crossentropy(batch):
    targets, logits, weights = batch
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(
            LabelSmoothedCrossentropy(0.0)(targets, logits, sample_weight=weights)
        ),
        keras.ops.convert_to_numpy(sparse(targets, logits, sample_weight=weights)),
        rtol=1e-5,
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_gradient_is_softmax_minus_the_smoothed_target(batch, smoothing):
    targets, logits, _ = batch
    loss = LabelSmoothedCrossentropy(smoothing)
    grad = gradient(lambda z: loss(targets, z), logits)
    smoothed = (1 - smoothing) * np.eye(VOCAB)[targets] + smoothing / VOCAB
    probabilities = np_softmax(logits.reshape(1, -1, VOCAB)).reshape(logits.shape)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(grad),
        (probabilities - smoothed) / targets.size,
        rtol=1e-4,
        atol=1e-7,
    )


def test_smoothing_raises_the_loss_of_a_confident_right_answer():
    logits = np.array([[10.0, 0.0, 0.0]], "float32")
    plain = float(LabelSmoothedCrossentropy(0.0)(np.array([0]), logits))
    smoothed = float(LabelSmoothedCrossentropy(0.2)(np.array([0]), logits))
    assert plain < 1e-3 and smoothed > 1.0


def test_masked_steps_do_not_count(batch):
    """Under `fit`, the loss honours the mask that an Embedding(mask_zero=True)
    puts on the logits: a model whose padded steps carry wrong targets learns
    the same as one whose padded steps carry right ones."""
    targets, _, _ = batch
    inputs = np.where(np.arange(5) < 3, targets + 1, 0)  # last two steps padded
    other = targets.copy()
    other[:, 3:] = (other[:, 3:] + 1) % VOCAB

    def loss_after_fit(y):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.layers.Embedding(VOCAB + 1, 4, mask_zero=True),
                keras.layers.Dense(VOCAB),
            ]
        )
        model.compile("sgd", LabelSmoothedCrossentropy(0.1))
        return model.fit(inputs, y, epochs=2, verbose=0).history["loss"]

    np.testing.assert_allclose(
        loss_after_fit(targets), loss_after_fit(other), rtol=1e-5
    )


def test_serialization_round_trip():
    loss = LabelSmoothedCrossentropy(0.2, reduction="sum")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, LabelSmoothedCrossentropy)
    assert restored.smoothing == 0.2 and restored.reduction == "sum"


@pytest.mark.parametrize("smoothing", [1.0, -0.1, True])
def test_bad_smoothing(smoothing):
    with pytest.raises(ValueError, match=r"`smoothing` must be a number in \[0, 1\)"):
        LabelSmoothedCrossentropy(smoothing)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_masked_token_crossentropy_is_the_mean_over_kept_tokens(batch, smoothing):
    targets, logits, weights = batch
    per_token = keras.ops.convert_to_numpy(
        token_crossentropy(targets, logits, smoothing)
    )
    kept = weights.astype(bool)
    masked = masked_token_crossentropy(targets, logits, kept, smoothing)
    np.testing.assert_allclose(float(masked), per_token[kept].mean(), rtol=1e-5)
    # The Keras loss with the mask as sample weights computes the same value.
    as_loss = LabelSmoothedCrossentropy(smoothing)(targets, logits, weights)
    np.testing.assert_allclose(
        float(as_loss) * targets.size / weights.sum(), float(masked), rtol=1e-5
    )
    everything = masked_token_crossentropy(targets, logits, None, smoothing)
    np.testing.assert_allclose(float(everything), per_token.mean(), rtol=1e-5)
    half = masked_token_crossentropy(
        targets, keras.ops.cast(logits, "float16"), kept, smoothing
    )
    assert keras.backend.standardize_dtype(half.dtype) == "float32"
    np.testing.assert_allclose(float(half), float(masked), rtol=1e-2)


def test_masked_token_crossentropy_of_nothing_is_zero(batch):
    targets, logits, weights = batch
    nothing = np.zeros_like(weights)
    assert float(masked_token_crossentropy(targets, logits, nothing)) == 0.0
    grad = gradient(
        lambda z: masked_token_crossentropy(targets, z, nothing, 0.1), logits
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(grad), 0.0)
    with pytest.raises(ValueError, match=r"`smoothing` must be a number in \[0, 1\)"):
        masked_token_crossentropy(targets, logits, weights, smoothing=1.5)
