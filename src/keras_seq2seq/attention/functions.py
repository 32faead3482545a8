"""Attention math: score and probability functions on `keras.ops`.

Shapes: `query` is (batch, query_time, depth), `keys` is
(batch, memory_time, depth); scores and alignments are
(batch, query_time, memory_time). Masks are boolean, True = keep.
Probabilities are computed in float32 and cast back to the scores' dtype,
so float16 and bfloat16 neither overflow nor produce NaN.
"""

import keras
import numpy as np
from keras import ops

from keras_seq2seq.backend.remat import recompute_in_backward
from keras_seq2seq.backend.scan import scan

MASKED_SCORE = -1e9  # large negative in float32; exp() of it is exactly 0.
MONOTONIC_MODES = ("parallel", "recursive", "hard")


def einsum(subscripts, *operands):
    """`ops.einsum` whose float16 sums are accumulated in float32.

    TensorFlow runs a float16 einsum through oneDNN on CPUs with AVX512-FP16,
    whose sums there come out wrong (attention weights off by up to 0.3), and
    float16 keeps 11 bits for a sum of many terms. The result keeps the
    operands' dtype; other dtypes go straight to `ops.einsum`.

    Example:
    >>> x = ops.ones((2, 3), dtype="float16")
    >>> y = einsum("bu,u->b", x, ops.ones((3,), dtype="float16"))
    >>> keras.backend.standardize_dtype(y.dtype), ops.convert_to_numpy(y).tolist()
    ('float16', [3.0, 3.0])
    """
    dtype = keras.backend.standardize_dtype(operands[0].dtype)
    if dtype != "float16":
        return ops.einsum(subscripts, *operands)
    widened = [ops.cast(operand, "float32") for operand in operands]
    return ops.cast(ops.einsum(subscripts, *widened), dtype)


def _tanh_score(processed_query, keys, v):
    hidden = ops.expand_dims(processed_query, 2) + ops.expand_dims(keys, 1)
    # einsum: the gradient of `sum(tanh(hidden) * v, -1)` took XLA:CPU twice
    # as long at 64 source steps.
    return einsum("...u,u->...", ops.tanh(hidden), v)


# The tanh of every query/key pair, `(batch, query_time, memory_time, units)`,
# is the largest tensor of an attention step: recomputing it in the backward
# pass instead of keeping it for every decoder step made a JAX training step
# of 64 x 64 tokens 1.25x faster and halved the peak memory of JAX's and
# TensorFlow's (see `recompute_in_backward` for torch).
_remat_tanh_score = recompute_in_backward(_tanh_score)


def additive_score(processed_query, keys, v, g=None, b=None):
    """Bahdanau score `v . tanh(query + keys [+ b])` for every query/key pair.

    With `g` (a scalar) the vector `v` is weight-normalised to `g * v / |v|`
    and the bias `b` is added inside the tanh (Salimans & Kingma 2016), as in
    tfa's `BahdanauAttention(normalize=True)`. On JAX and TensorFlow the
    tanh is recomputed in the backward pass (`keras.remat`), not kept.

    Example:
    >>> q, k, v = ops.ones((2, 3, 4)), ops.ones((2, 5, 4)), ops.ones((4,))
    >>> tuple(additive_score(q, k, v).shape)
    (2, 3, 5)
    """
    v = ops.convert_to_tensor(v)  # a Keras variable is not a tensor to `remat`
    if g is not None:
        v = ops.multiply(g, v * ops.rsqrt(ops.sum(ops.square(v))))
        processed_query = ops.add(processed_query, b)
    return _remat_tanh_score(processed_query, keys, v)


def multiplicative_score(query, keys, scale=None):
    """Luong score `query . key` for every query/key pair, times `scale` if given.

    Example:
    >>> tuple(multiplicative_score(ops.ones((2, 3, 4)), ops.ones((2, 5, 4))).shape)
    (2, 3, 5)
    """
    scores = ops.matmul(query, ops.swapaxes(keys, -1, -2))
    return scores if scale is None else scale * scores


def _as_float32(scores, mask):
    scores = ops.cast(scores, "float32")
    if mask is None:
        return scores, None
    mask = ops.broadcast_to(ops.expand_dims(mask, -2), ops.shape(scores))
    return ops.where(mask, scores, MASKED_SCORE), ops.cast(mask, "float32")


def _finish(probabilities, mask, dtype):
    if mask is not None:
        probabilities = probabilities * mask
    return ops.cast(probabilities, dtype)


def softmax(scores, mask=None):
    """Softmax over the last axis; masked steps get exactly 0, a fully masked row 0s.

    Example:
    >>> w = softmax(ops.zeros((1, 1, 3)), mask=ops.array([[True, True, False]]))
    >>> ops.convert_to_numpy(w).tolist()
    [[[0.5, 0.5, 0.0]]]
    """
    dtype = scores.dtype
    scores, mask = _as_float32(scores, mask)
    return _finish(ops.softmax(scores, axis=-1), mask, dtype)


def hardmax(scores, mask=None):
    """One-hot of the highest-scoring unmasked step (ties: the first one).

    Example:
    >>> ops.convert_to_numpy(hardmax(ops.array([[[1.0, 3.0, 2.0]]]))).tolist()
    [[[0.0, 1.0, 0.0]]]
    """
    dtype = scores.dtype
    scores, mask = _as_float32(scores, mask)
    one_hot = ops.one_hot(ops.argmax(scores, axis=-1), ops.shape(scores)[-1])
    return _finish(one_hot, mask, dtype)


PROBABILITY_FUNCTIONS = {"softmax": softmax, "hardmax": hardmax}


def get_probability_fn(name):
    """Looks up a probability function by name (`'softmax'` or `'hardmax'`)."""
    if name not in PROBABILITY_FUNCTIONS:
        raise ValueError(
            "`probability_fn` must be one of "
            f"{sorted(PROBABILITY_FUNCTIONS)}. Received: probability_fn={name!r}"
        )
    return PROBABILITY_FUNCTIONS[name]


def _exclusive_cumsum(x, axis):
    x = ops.moveaxis(x, axis, 0)
    shifted = ops.concatenate([ops.zeros_like(x[:1]), x[:-1]], axis=0)
    return ops.moveaxis(ops.cumsum(shifted, axis=0), 0, axis)


def safe_cumprod(x, axis=0, exclusive=False):
    """Cumulative product computed as exp(cumsum(log x)), safe for tiny factors.

    `x` is clipped to [tiny, 1] first, so it suits probabilities.

    Example:
    >>> ops.convert_to_numpy(safe_cumprod(ops.array([0.5, 0.5]), exclusive=True))
    array([1. , 0.5], dtype=float32)
    """
    tiny = float(np.finfo(keras.backend.standardize_dtype(x.dtype)).tiny)
    logs = ops.log(ops.clip(x, tiny, 1.0))
    total = _exclusive_cumsum(logs, axis) if exclusive else ops.cumsum(logs, axis=axis)
    return ops.exp(total)


def monotonic_attention(p_choose_i, previous_attention, mode):
    """Monotonic attention distribution from choosing probabilities (Raffel et al.).

    Args:
        p_choose_i: (batch, memory_time) probability of stopping at each step.
        previous_attention: (batch, memory_time) alignments of the last step.
        mode: `"recursive"` (exact, a loop over memory time), `"parallel"`
            (cumulative products; fast, can be inexact when p_choose_i is
            near 1) or `"hard"` (p_choose_i must be 0 or 1).

    Example:
    >>> p = ops.array([[0.0, 1.0, 1.0]])
    >>> ops.convert_to_numpy(monotonic_attention(p, ops.array([[1.0, 0, 0]]), "hard"))
    array([[0., 1., 0.]], dtype=float32)
    """
    if mode == "recursive":
        return p_choose_i * _recursive_stay_probability(p_choose_i, previous_attention)
    if mode == "parallel":
        cumprod = safe_cumprod(1.0 - p_choose_i, axis=1, exclusive=True)
        reach = ops.cumsum(previous_attention / ops.clip(cumprod, 1e-10, 1.0), axis=1)
        return p_choose_i * cumprod * reach
    if mode == "hard":
        p_choose_i = p_choose_i * ops.cumsum(previous_attention, axis=1)
        return p_choose_i * ops.cumprod(_not_chosen_before(p_choose_i), axis=1)
    raise ValueError(
        f"`mode` must be one of {MONOTONIC_MODES}. Received: mode={mode!r}"
    )


def _not_chosen_before(p_choose_i):
    # 1 - p_{j-1}, with 1 for the first memory step.
    return ops.concatenate(
        [ops.ones_like(p_choose_i[:, :1]), 1.0 - p_choose_i[:, :-1]], axis=1
    )


def _recursive_stay_probability(p_choose_i, previous_attention):
    # q_j = (1 - p_{j-1}) q_{j-1} + a_j, scanned over memory time. Both
    # sequences travel as one tensor: TensorFlow's scan cannot match several
    # inputs whose length is unknown until run time.
    sequences = ops.stack(
        [
            ops.transpose(_not_chosen_before(p_choose_i)),
            ops.transpose(previous_attention),
        ],
        axis=-1,
    )

    def step(carry, inputs):
        carry = inputs[..., 0] * carry + inputs[..., 1]
        return carry, carry

    _, q = scan(step, ops.zeros_like(p_choose_i[:, 0]), sequences)
    return ops.transpose(q)


def context(alignments, memory):
    """Weighted sum of memory: (batch, [query_time,] memory_time) -> (batch, [query_time,] depth).

    Example:
    >>> tuple(context(ops.ones((2, 3, 5)), ops.ones((2, 5, 4))).shape)
    (2, 3, 4)
    """
    if len(alignments.shape) == 2:
        return ops.squeeze(ops.matmul(ops.expand_dims(alignments, 1), memory), 1)
    return ops.matmul(alignments, memory)
