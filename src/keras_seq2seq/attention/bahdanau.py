"""Bahdanau (additive) attention."""

import math

import keras
from keras import ops

from keras_seq2seq.attention import functions
from keras_seq2seq.attention.base import AttentionMechanism
from keras_seq2seq.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class BahdanauAttention(AttentionMechanism):
    """Additive attention: `score(q, k) = v . tanh(W_q q + W_k k)`.

    Args:
        units: depth of the projections `W_q` and `W_k`.
        normalize: weight-normalise `v` to `g * v / |v|` with a learned scalar
            `g` (initialised to sqrt(1/units)) and add a learned bias `b`
            inside the tanh, as tfa's `BahdanauAttention(normalize=True)`.
        probability_fn: `"softmax"` or `"hardmax"`.
        kernel_initializer: initializer of `W_q`, `W_k` and `v`.

    Call arguments and masking: see `AttentionMechanism`.

    Example:
    >>> attention = BahdanauAttention(units=8)
    >>> query, memory = keras.ops.ones((2, 16)), keras.ops.ones((2, 5, 12))
    >>> tuple(attention(query, memory).shape)
    (2, 5)

    References:
        Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly
        Learning to Align and Translate".
    """

    def __init__(
        self,
        units,
        normalize=False,
        probability_fn="softmax",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        check_positive_int("units", units)
        super().__init__(units=units, probability_fn=probability_fn, **kwargs)
        self.normalize = normalize
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, memory_shape):
        init = self.kernel_initializer
        self.query_kernel = self.add_weight(
            (query_shape[-1], self.units), init, name="query_kernel"
        )
        self.memory_kernel = self.add_weight(
            (memory_shape[-1], self.units), init, name="memory_kernel"
        )
        self.attention_v = self.add_weight((self.units,), init, name="attention_v")
        self.attention_g = self.attention_b = None
        if self.normalize:
            g_init = keras.initializers.Constant(math.sqrt(1.0 / self.units))
            self.attention_g = self.add_weight((), g_init, name="attention_g")
            self.attention_b = self.add_weight(
                (self.units,), "zeros", name="attention_b"
            )

    def keys(self, memory):
        return ops.matmul(memory, self.memory_kernel)

    def score(self, query, keys):
        # einsum, not matmul: TensorFlow lowers a batched matmul by a matrix to
        # a tensordot whose gradient XLA cannot compile inside a loop.
        processed_query = functions.einsum("...d,du->...u", query, self.query_kernel)
        return functions.additive_score(
            processed_query, keys, self.attention_v, self.attention_g, self.attention_b
        )

    def get_config(self):
        return {
            **super().get_config(),
            "normalize": self.normalize,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
