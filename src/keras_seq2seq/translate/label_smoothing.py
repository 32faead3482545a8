"""Cross-entropy of integer targets against logits with label smoothing: the
target distribution puts `1 - smoothing` on the target token and spreads
`smoothing` evenly over the whole vocabulary (Szegedy et al., 2016)."""

import keras

from keras_seq2seq.seq2seq.loss import sparse_crossentropy
from keras_seq2seq.validation import check_fraction


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class LabelSmoothedCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy from logits, with label smoothing.

    Per token: `(1 - smoothing) * -log p[target] + smoothing * mean(-log p)`,
    the cross-entropy against the smoothed one-hot target. `smoothing=0`
    gives `SparseCategoricalCrossentropy(from_logits=True)`'s value without
    its movement of the class axis on torch. Sample weights and Keras masks
    apply as for any loss.

    Args:
        smoothing: the probability mass spread over the vocabulary, in [0, 1).
        reduction, name: as for `keras.losses.Loss`.

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
        return sparse_crossentropy(y_true, y_pred, self.smoothing)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}
