"""Monotonic attention (Raffel et al. 2017) over the Bahdanau and Luong scores."""

import keras
from keras import ops

from keras_seq2seq.attention import functions
from keras_seq2seq.attention.bahdanau import BahdanauAttention
from keras_seq2seq.attention.luong import LuongAttention


class MonotonicAttention:
    """Mixin that turns a score-based mechanism into a monotonic one.

    Each memory step is chosen with probability `sigmoid(score + r)` (`r`
    a learned scalar, initialised to `score_bias_init`), scanning forward from
    the previous step's alignment; `functions.monotonic_attention` gives the
    expected alignment. Call one decoder step at a time, passing the previous
    alignments (None: all mass on the first memory step).

    Args (on top of the wrapped mechanism's):
        sigmoid_noise: std of Gaussian noise added to scores before the
            sigmoid (as tfa: whenever > 0; set 0 at inference).
        sigmoid_noise_seed: seed of that noise.
        score_bias_init: initial value of `r`; negative values favour staying.
        mode: `"parallel"`, `"recursive"` or `"hard"` (see
            `functions.monotonic_attention`).

    References:
        Raffel et al. 2017, "Online and Linear-Time Attention by Enforcing
        Monotonic Alignments".
    """

    def __init__(
        self,
        *args,
        sigmoid_noise=0.0,
        sigmoid_noise_seed=None,
        score_bias_init=0.0,
        mode="parallel",
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if mode not in functions.MONOTONIC_MODES:
            raise ValueError(
                f"`mode` must be one of {functions.MONOTONIC_MODES}. Received: mode={mode!r}"
            )
        if sigmoid_noise < 0:
            raise ValueError(
                f"`sigmoid_noise` must be >= 0. Received: sigmoid_noise={sigmoid_noise}"
            )
        self.sigmoid_noise = sigmoid_noise
        self.sigmoid_noise_seed = sigmoid_noise_seed
        self.score_bias_init = score_bias_init
        self.mode = mode
        self._noise_seed = (
            keras.random.SeedGenerator(sigmoid_noise_seed)
            if sigmoid_noise > 0
            else None
        )

    def build(self, query_shape, memory_shape):
        super().build(query_shape, memory_shape)
        self.attention_score_bias = self.add_weight(
            (),
            keras.initializers.Constant(self.score_bias_init),
            name="attention_score_bias",
        )

    def score(self, query, keys):
        return super().score(query, keys) + self.attention_score_bias

    def align(self, query, keys, memory_mask=None, previous_alignments=None):
        if len(query.shape) != 2:
            raise ValueError(
                f"{type(self).__name__} attends one decoder step at a time: "
                "`query` must have rank 2 (batch, depth). Received: "
                f"query.shape={query.shape}"
            )
        if previous_alignments is None:
            previous_alignments = self.initial_alignments(
                ops.shape(query)[0], ops.shape(keys)[1], query.dtype
            )
        return super().align(query, keys, memory_mask, previous_alignments)

    def probabilities(self, scores, memory_mask, previous_alignments):
        dtype = scores.dtype
        scores = ops.cast(scores[:, 0], "float32")
        if self._noise_seed is not None:
            noise = keras.random.normal(ops.shape(scores), seed=self._noise_seed)
            scores = scores + self.sigmoid_noise * noise
        if self.mode == "hard":
            p_choose_i = ops.cast(scores > 0, "float32")
        else:
            p_choose_i = ops.sigmoid(scores)
        if memory_mask is not None:
            p_choose_i = p_choose_i * ops.cast(memory_mask, "float32")
        previous = ops.cast(previous_alignments, "float32")
        alignments = functions.monotonic_attention(p_choose_i, previous, self.mode)
        return ops.cast(ops.expand_dims(alignments, 1), dtype)

    def initial_alignments(self, batch_size, memory_time, dtype=None):
        """All mass on the first memory step."""
        one_hot = ops.one_hot(ops.zeros((batch_size,), "int32"), memory_time)
        return ops.cast(one_hot, dtype or self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "sigmoid_noise": self.sigmoid_noise,
            "sigmoid_noise_seed": self.sigmoid_noise_seed,
            "score_bias_init": self.score_bias_init,
            "mode": self.mode,
        }


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class BahdanauMonotonicAttention(MonotonicAttention, BahdanauAttention):
    """Monotonic attention over Bahdanau scores (see `MonotonicAttention`).

    Example:
    >>> attention = BahdanauMonotonicAttention(units=8, mode="recursive")
    >>> query, memory = keras.ops.ones((2, 16)), keras.ops.ones((2, 5, 12))
    >>> tuple(attention(query, memory).shape)
    (2, 5)
    """


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class LuongMonotonicAttention(MonotonicAttention, LuongAttention):
    """Monotonic attention over Luong scores (see `MonotonicAttention`).

    Example:
    >>> hard = LuongMonotonicAttention(score_mode="dot", mode="hard")
    >>> weights = hard(keras.ops.ones((1, 4)), keras.ops.ones((1, 3, 4)))
    >>> keras.ops.convert_to_numpy(weights).tolist()
    [[1.0, 0.0, 0.0]]
    """
