"""Luong (multiplicative) attention with dot, general and concat scores."""

import keras
from keras import ops

from keras_seq2seq.attention import functions
from keras_seq2seq.attention.base import AttentionMechanism

SCORE_MODES = ("dot", "general", "concat")


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class LuongAttention(AttentionMechanism):
    """Multiplicative attention (Luong et al. 2015).

    Scores, by `score_mode`:
    - `"general"` (default, as tfa's `LuongAttention`): `q . (W_k k)`;
      `W_k` maps memory depth to `units`, which must equal the query depth
      (None: take the query depth).
    - `"dot"`: `q . k`; query and memory depths must be equal.
    - `"concat"`: `v . tanh(W [q; k])`, with `W` held as its query and memory
      halves (`units` required).

    Args:
        units: projection depth (see above).
        score_mode: `"general"`, `"dot"` or `"concat"`.
        scale: multiply scores by a learned scalar `g`, initialised to 1.
        probability_fn: `"softmax"` or `"hardmax"`.
        kernel_initializer: initializer of the kernels and `v`.

    Call arguments and masking: see `AttentionMechanism`.

    Example:
    >>> attention = LuongAttention(units=16)
    >>> query, memory = keras.ops.ones((2, 16)), keras.ops.ones((2, 5, 12))
    >>> tuple(attention(query, memory).shape)
    (2, 5)

    References:
        Luong, Pham & Manning 2015, "Effective Approaches to Attention-based
        Neural Machine Translation".
    """

    def __init__(
        self,
        units=None,
        score_mode="general",
        scale=False,
        probability_fn="softmax",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(units=units, probability_fn=probability_fn, **kwargs)
        if score_mode not in SCORE_MODES:
            raise ValueError(
                f"`score_mode` must be one of {SCORE_MODES}. "
                f"Received: score_mode={score_mode!r}"
            )
        if score_mode == "concat" and units is None:
            raise ValueError(
                "`units` is required when score_mode='concat'. Received: units=None"
            )
        self.score_mode = score_mode
        self.scale = scale
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, memory_shape):
        query_depth, memory_depth = query_shape[-1], memory_shape[-1]
        init = self.kernel_initializer
        self.query_kernel = self.attention_v = self.attention_g = None
        self.memory_kernel = None
        if self.score_mode == "dot" and query_depth != memory_depth:
            raise ValueError(
                "LuongAttention(score_mode='dot') needs equal query and memory "
                f"depths. Received: query depth {query_depth}, memory depth "
                f"{memory_depth}. Use score_mode='general' to project the memory."
            )
        if self.score_mode == "general":
            if self.units is not None and self.units != query_depth:
                raise ValueError(
                    "LuongAttention(score_mode='general') projects the memory to "
                    f"the query depth: `units` must equal it. Received: units="
                    f"{self.units}, query depth {query_depth}"
                )
            self.memory_kernel = self.add_weight(
                (memory_depth, query_depth), init, name="memory_kernel"
            )
        if self.score_mode == "concat":
            self.query_kernel = self.add_weight(
                (query_depth, self.units), init, name="query_kernel"
            )
            self.memory_kernel = self.add_weight(
                (memory_depth, self.units), init, name="memory_kernel"
            )
            self.attention_v = self.add_weight((self.units,), init, name="attention_v")
        if self.scale:
            self.attention_g = self.add_weight((), "ones", name="attention_g")

    def keys(self, memory):
        if self.memory_kernel is None:
            return memory
        return ops.matmul(memory, self.memory_kernel)

    def score(self, query, keys):
        if self.score_mode == "concat":
            scores = functions.additive_score(
                ops.matmul(query, self.query_kernel), keys, self.attention_v
            )
            return scores if self.attention_g is None else self.attention_g * scores
        return functions.multiplicative_score(query, keys, self.attention_g)

    def get_config(self):
        return {
            **super().get_config(),
            "score_mode": self.score_mode,
            "scale": self.scale,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
