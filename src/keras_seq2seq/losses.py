"""Token cross-entropy, the loss every model here trains with: per token, over
the tokens a mask keeps, and as a Keras loss; each with optional label
smoothing (Szegedy et al., 2016): the target distribution puts
`1 - smoothing` on the target token and spreads `smoothing` evenly over the
whole vocabulary."""

import keras
from keras import ops

from keras_seq2seq.validation import check_fraction


def token_crossentropy(targets, logits, smoothing=0.0):
    """Cross-entropy of integer `targets` against `logits` (last axis: classes).

    `-log softmax(logits)[target]`, computed as `logsumexp(logits) -
    logits[target]`: two reductions and a gather, with no one-hot targets or
    log-probabilities of the logits' size (Keras' sparse cross-entropy on
    torch also moves the class axis). With `smoothing`, the smoothed target's
    cross-entropy: `(1 - smoothing) * -log p[target] + smoothing * mean(-log p)`.

    Args:
        targets: int `[...]` class ids.
        logits: float `[..., classes]`.
        smoothing: float in `[0, 1)`.

    Returns:
        The per-token losses, `[...]`, in the logits' dtype.

    Example:
    >>> logits = ops.log(ops.convert_to_tensor([[0.5, 0.25, 0.25]]))
    >>> round(float(token_crossentropy(ops.convert_to_tensor([0]), logits)[0]), 4)
    0.6931
    """
    log_normalizer = ops.logsumexp(logits, axis=-1)
    indices = ops.expand_dims(ops.cast(targets, "int32"), -1)
    loss = log_normalizer - ops.take_along_axis(logits, indices, axis=-1)[..., 0]
    if smoothing:
        uniform = log_normalizer - ops.mean(logits, axis=-1)
        loss = (1 - smoothing) * loss + smoothing * uniform
    return loss


def divide_no_nan(numerator, denominator):
    """`numerator / denominator`, and 0 (with a zero gradient) where the
    denominator is 0.

    Example:
    >>> ops.convert_to_numpy(divide_no_nan(ops.ones(2), ops.array([2.0, 0.0]))).tolist()
    [0.5, 0.0]
    """
    is_zero = ops.equal(denominator, 0.0)
    safe = ops.where(is_zero, ops.ones_like(denominator), denominator)
    return ops.where(is_zero, ops.zeros_like(numerator), numerator / safe)


def masked_token_crossentropy(targets, logits, mask=None, smoothing=0.0):
    """The mean token cross-entropy over the tokens `mask` keeps, in float32.

    Args:
        targets: int `[batch, time]` class ids.
        logits: float `[batch, time, classes]` (float16 and bfloat16 are
            computed in float32).
        mask: `[batch, time]` booleans or float weights (1 on real tokens, 0
            on padding); None counts every token.
        smoothing: float in `[0, 1)`.

    Returns:
        A float32 scalar: the weighted sum of the token losses divided by the
        sum of the weights, 0 when every token is masked.

    Example:
    >>> logits = ops.zeros((1, 3, 4))  # uniform over 4 classes
    >>> loss = masked_token_crossentropy([[1, 2, 0]], logits, [[1, 1, 0]])
    >>> round(float(loss), 4)  # log(4)
    1.3863
    """
    smoothing = check_fraction("smoothing", smoothing)
    losses = token_crossentropy(targets, ops.cast(logits, "float32"), smoothing)
    if mask is None:
        return ops.mean(losses)
    weights = ops.cast(mask, "float32")
    return divide_no_nan(ops.sum(losses * weights), ops.sum(weights))


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class LabelSmoothedCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy from logits, with label smoothing.

    Per token: `token_crossentropy(y_true, y_pred, smoothing)`, the
    cross-entropy against the smoothed one-hot target. `smoothing=0` gives
    `SparseCategoricalCrossentropy(from_logits=True)`'s value without its
    movement of the class axis on torch. Sample weights and Keras masks apply
    as for any loss, so with the default reduction and the target mask as
    sample weights it is `masked_token_crossentropy`.

    Args:
        smoothing: the probability mass spread over the vocabulary, in [0, 1).
        reduction, name, dtype: as for `keras.losses.Loss`.

    Example:
    >>> import numpy as np
    >>> loss = LabelSmoothedCrossentropy(0.1)
    >>> logits = np.log(np.array([[0.7, 0.2, 0.1]], "float32"))
    >>> round(float(loss(np.array([0]), logits)), 4)
    0.4633
    """

    def __init__(
        self,
        smoothing=0.1,
        reduction="sum_over_batch_size",
        name="label_smoothed_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.smoothing = check_fraction("smoothing", smoothing)

    def call(self, y_true, y_pred):
        return token_crossentropy(y_true, y_pred, self.smoothing)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}
