"""Attention math (keras_seq2seq.attention.functions) against NumPy references."""

import keras
import numpy as np
import pytest
from conftest import (
    NP_MONOTONIC,
    gradient,
    np_cumprod_exclusive,
    np_hardmax,
    np_monotonic_hard,
    np_monotonic_parallel,
    np_monotonic_recursive,
    np_softmax,
)
from keras import ops

from keras_seq2seq.attention import (
    context,
    functions,
    hardmax,
    monotonic_attention,
    safe_cumprod,
    softmax,
)

RNG = np.random.default_rng(1234)
TOL = {"rtol": 1e-5, "atol": 1e-6}

# (B=2, Tq=3, Te=5) scores; masks keep a prefix, or hide a middle step, or all.
SCORES = RNG.normal(scale=2.0, size=(2, 3, 5)).astype("float32")
MASKS = {
    "none": None,
    "lengths_5_3": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool),
    "holes": np.array([[1, 0, 1, 1, 0], [0, 1, 1, 1, 1]], bool),
    "fully_masked_row": np.array([[1, 1, 0, 1, 1], [0, 0, 0, 0, 0]], bool),
}


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def tensor(x, dtype="float32"):
    return ops.convert_to_tensor(np.asarray(x), dtype=dtype)


def mask_tensor(mask):
    return None if mask is None else ops.convert_to_tensor(mask)


def check_masked(out, mask):
    """Masked steps exactly 0.0, nothing NaN, fully masked rows all zeros."""
    assert np.all(np.isfinite(out))
    if mask is None:
        return
    keep = np.broadcast_to(mask[:, None, :], out.shape)
    assert np.all(out[~keep] == 0.0)
    assert np.all(out[~mask.any(-1)] == 0.0)


# ---------------------------------------------------------------- softmax


@pytest.mark.parametrize("mask_name", list(MASKS))
def test_softmax_matches_reference(mask_name):
    mask = MASKS[mask_name]
    out = numpy(softmax(tensor(SCORES), mask_tensor(mask)))
    assert out.shape == SCORES.shape
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np_softmax(SCORES, mask), **TOL)
    check_masked(out, mask)
    rows_kept = np.ones(2, bool) if mask is None else mask.any(-1)
    np.testing.assert_allclose(out.sum(-1)[rows_kept], 1.0, rtol=1e-6)


def test_softmax_known_values():
    scores = tensor([[[0.0, np.log(3.0), 5.0, 0.0]]])
    mask = ops.convert_to_tensor(np.array([[True, True, False, True]]))
    out = numpy(softmax(scores, mask))
    np.testing.assert_allclose(out, [[[0.2, 0.6, 0.0, 0.2]]], **TOL)
    assert out[0, 0, 2] == 0.0


def test_softmax_large_scores_do_not_overflow():
    scores = tensor([[[1000.0, 999.0, -1000.0]]])
    out = numpy(softmax(scores))
    e = np.exp([0.0, -1.0])
    np.testing.assert_allclose(out[0, 0], [e[0] / e.sum(), e[1] / e.sum(), 0.0], **TOL)


# ---------------------------------------------------------------- hardmax


@pytest.mark.parametrize("mask_name", list(MASKS))
def test_hardmax_matches_reference(mask_name):
    mask = MASKS[mask_name]
    out = numpy(hardmax(tensor(SCORES), mask_tensor(mask)))
    assert out.shape == SCORES.shape
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np_hardmax(SCORES, mask))
    check_masked(out, mask)


def test_hardmax_ties_pick_first_and_mask_hides_maximum():
    scores = tensor([[[1.0, 3.0, 3.0, 2.0]], [[9.0, 1.0, 2.0, 2.0]]])
    mask = ops.convert_to_tensor(np.array([[1, 1, 1, 1], [0, 1, 1, 1]], bool))
    np.testing.assert_array_equal(
        numpy(hardmax(scores, mask)), [[[0, 1, 0, 0]], [[0, 0, 1, 0]]]
    )
    np.testing.assert_array_equal(
        numpy(hardmax(scores)), [[[0, 1, 0, 0]], [[1, 0, 0, 0]]]
    )


@pytest.mark.parametrize("fn", [softmax, hardmax], ids=["softmax", "hardmax"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_probabilities_in_low_precision(fn, dtype):
    mask = MASKS["fully_masked_row"]
    # Scores far beyond what exp() can hold in float16 must not overflow.
    scores = SCORES * 1000.0
    out = fn(tensor(scores, dtype), mask_tensor(mask))
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    out = numpy(ops.cast(out, "float32"))
    check_masked(out, mask)
    reference = np_softmax if fn is softmax else np_hardmax
    low = numpy(ops.cast(tensor(scores, dtype), "float32"))
    np.testing.assert_allclose(out, reference(low, mask), atol=1e-2)


@pytest.mark.parametrize(
    "subscripts, shapes",
    [("...u,u->...", [(2, 3, 4096), (4096,)]), ("bd,du->bu", [(2, 4096), (4096, 3)])],
)
def test_float16_einsum_accumulates_in_float32(subscripts, shapes):
    # 4096 + 1 is not a float16 number: a float16 accumulator stops at 4096
    # or rounds, while a float32 one gives the exact 5120, which float16 holds.
    values = [np.full(shape, 1.25, "float32") for shape in shapes]
    values[-1] = np.ones(shapes[-1], "float32")
    got = functions.einsum(subscripts, *(tensor(v, "float16") for v in values))
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    want = np.einsum(subscripts, *values)
    np.testing.assert_array_equal(numpy(ops.cast(got, "float32")), want)


# ---------------------------------------------------------------- safe_cumprod


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("exclusive", [False, True])
def test_safe_cumprod_matches_cumprod(axis, exclusive):
    x = RNG.uniform(0.05, 1.0, size=(3, 5)).astype("float32")
    out = numpy(safe_cumprod(tensor(x), axis=axis, exclusive=exclusive))
    want = np_cumprod_exclusive(x, axis) if exclusive else np.cumprod(x, axis=axis)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-7)
    if exclusive:
        first = np.take(out, 0, axis=axis)
        np.testing.assert_array_equal(first, 1.0)


def test_safe_cumprod_default_axis_is_zero():
    x = np.array([[0.5, 0.25], [0.5, 0.5]], "float32")
    np.testing.assert_allclose(
        numpy(safe_cumprod(tensor(x))), [[0.5, 0.25], [0.25, 0.125]]
    )


def test_safe_cumprod_known_values():
    x = tensor([0.5, 0.5, 0.25])
    np.testing.assert_allclose(numpy(safe_cumprod(x)), [0.5, 0.25, 0.0625], **TOL)
    np.testing.assert_allclose(
        numpy(safe_cumprod(x, exclusive=True)), [1.0, 0.5, 0.25], **TOL
    )


@pytest.mark.parametrize("exclusive", [False, True])
def test_safe_cumprod_tiny_values_and_zeros(exclusive):
    x = np.array([[1e-15, 1e-15, 1e-15, 0.5], [0.5, 0.0, 0.5, 0.0]], "float32")
    out = numpy(safe_cumprod(tensor(x), axis=1, exclusive=exclusive))
    assert np.all(np.isfinite(out))
    assert np.all(out >= 0.0)
    want = np_cumprod_exclusive(x, 1) if exclusive else np.cumprod(x, axis=1)
    # Products too small for float32 come back (near) zero, never NaN or inf.
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-36)
    tiny = np.finfo("float32").tiny
    assert np.all(out[want == 0.0] <= tiny)


# ---------------------------------------------------------------- monotonic


def random_monotonic_inputs(low=0.05, high=0.95, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(low, high, size=(2, 5)).astype("float32")
    previous = rng.uniform(size=(2, 5))
    previous = (previous / previous.sum(-1, keepdims=True)).astype("float32")
    return p, previous


def test_numpy_references_agree_on_a_hand_example():
    # One memory step from the start: p = [0.5, 0.5, 1]; attention 0.5, 0.25, 0.25.
    p, previous = [[0.5, 0.5, 1.0]], [[1.0, 0.0, 0.0]]
    for reference in (np_monotonic_recursive, np_monotonic_parallel):
        np.testing.assert_allclose(reference(p, previous), [[0.5, 0.25, 0.25]])


@pytest.mark.parametrize("mode", ["recursive", "parallel"])
@pytest.mark.parametrize("seed", [0, 1])
def test_monotonic_attention_matches_reference(mode, seed):
    p, previous = random_monotonic_inputs(seed=seed)
    out = numpy(monotonic_attention(tensor(p), tensor(previous), mode))
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out, NP_MONOTONIC[mode](p, previous), **TOL)
    assert np.all(out >= 0.0)
    assert np.all(out.sum(-1) <= 1.0 + 1e-6)


def test_monotonic_attention_one_hot_start_known_values():
    p = tensor([[0.5, 0.5, 1.0, 0.5], [0.0, 0.25, 0.5, 1.0]])
    previous = tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    want = [[0.5, 0.25, 0.25, 0.0], [0.0, 0.25, 0.375, 0.375]]
    out = numpy(monotonic_attention(p, previous, "recursive"))
    np.testing.assert_allclose(out, want, **TOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recursive_and_parallel_agree_away_from_one(seed):
    p, previous = random_monotonic_inputs(0.01, 0.9, seed=seed)
    recursive = numpy(monotonic_attention(tensor(p), tensor(previous), "recursive"))
    parallel = numpy(monotonic_attention(tensor(p), tensor(previous), "parallel"))
    np.testing.assert_allclose(recursive, parallel, rtol=1e-5, atol=1e-6)


def test_recursive_is_exact_when_p_reaches_one():
    p = np.array([[0.3, 1.0, 0.6, 0.2, 0.9], [1.0, 1.0, 0.5, 1.0, 0.5]], "float32")
    previous = np.array(
        [[0.5, 0.0, 0.5, 0.0, 0.0], [0.0, 0.2, 0.3, 0.0, 0.5]], "float32"
    )
    out = numpy(monotonic_attention(tensor(p), tensor(previous), "recursive"))
    np.testing.assert_allclose(out, np_monotonic_recursive(p, previous), **TOL)
    np.testing.assert_allclose(out[0], [0.15, 0.35, 0.3, 0.04, 0.144], **TOL)


@pytest.mark.parametrize(
    "p_row, start, want",
    [
        ([0, 1, 1, 0, 1], 0, 1),  # first chosen step after the start
        ([1, 0, 0, 1, 0], 2, 3),  # chosen steps before the start are ignored
        ([0, 0, 1, 1, 0], 2, 2),  # the start itself may be chosen
        ([1, 1, 0, 0, 0], 2, None),  # nothing chosen at/after the start: zeros
        ([1, 1, 1, 1, 1], 4, 4),
    ],
)
def test_hard_monotonic_is_one_hot_at_first_choice(p_row, start, want):
    p = np.array([p_row, p_row[::-1]], "float32")
    previous = np.zeros((2, 5), "float32")
    previous[0, start] = 1.0
    previous[1, 0] = 1.0
    out = numpy(monotonic_attention(tensor(p), tensor(previous), "hard"))
    expected = np.zeros(5)
    if want is not None:
        expected[want] = 1.0
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out, np_monotonic_hard(p, previous))


def test_hard_monotonic_matches_reference_on_random_binary_p():
    rng = np.random.default_rng(7)
    p = (rng.uniform(size=(2, 5)) > 0.6).astype("float32")
    previous = np.eye(5, dtype="float32")[[1, 3]]
    out = numpy(monotonic_attention(tensor(p), tensor(previous), "hard"))
    np.testing.assert_array_equal(out, np_monotonic_hard(p, previous))
    assert set(np.unique(out)) <= {0.0, 1.0}


@pytest.mark.parametrize("mode", ["soft", "Parallel", None])
def test_monotonic_attention_bad_mode(mode):
    p, previous = random_monotonic_inputs()
    with pytest.raises(ValueError, match="mode"):
        monotonic_attention(tensor(p), tensor(previous), mode)


# ---------------------------------------------------------------- context


def test_context_rank2_and_rank3_alignments():
    memory = RNG.normal(size=(2, 5, 3)).astype("float32")
    alignments = np_softmax(SCORES).astype("float32")
    out3 = numpy(context(tensor(alignments), tensor(memory)))
    np.testing.assert_allclose(
        out3, np.einsum("bqt,btd->bqd", alignments, memory), **TOL
    )
    out2 = numpy(context(tensor(alignments[:, 1]), tensor(memory)))
    assert out2.shape == (2, 3)
    np.testing.assert_allclose(
        out2, np.einsum("bt,btd->bd", alignments[:, 1], memory), **TOL
    )


def test_context_known_values():
    memory = tensor([[[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]])
    alignments = tensor([[0.5, 0.25, 0.25]])
    np.testing.assert_allclose(numpy(context(alignments, memory)), [[1.5, 1.5]], **TOL)


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "normalize"])
def test_additive_score_value_and_gradients_match_numpy(normalize):
    # On JAX and TensorFlow the tanh is recomputed in the backward pass
    # (`recompute_in_backward`): the gradients must still be exact.
    q = RNG.normal(size=(2, 3, 4)).astype("float32")
    k = RNG.normal(size=(2, 5, 4)).astype("float32")
    v = RNG.normal(size=(4,)).astype("float32")
    g, b = (np.float32(0.7), RNG.normal(size=(4,)).astype("float32"))
    weights = RNG.normal(size=(2, 3, 5)).astype("float32")
    inputs = {"processed_query": q, "keys": k, "v": v}

    effective_v = g * v / np.sqrt(np.sum(v**2)) if normalize else v
    hidden = q[:, :, None, :] + k[:, None, :, :] + (b if normalize else 0.0)
    tanh = np.tanh(hidden)
    d_hidden = weights[..., None] * effective_v * (1.0 - tanh**2)
    d_effective_v = np.einsum("bqm,bqmu->u", weights, tanh)
    if normalize:  # through g * v / |v|
        norm = np.sqrt(np.sum(v**2))
        d_v = g / norm * (d_effective_v - v * np.dot(v, d_effective_v) / norm**2)
    else:
        d_v = d_effective_v
    want = {
        "processed_query": d_hidden.sum(axis=2),
        "keys": d_hidden.sum(axis=1),
        "v": d_v,
    }

    def score(**values):
        args = {**inputs, **values}
        if normalize:
            args.update(g=g, b=b)
        return functions.additive_score(**args)

    np.testing.assert_allclose(
        numpy(score()), np.einsum("bqmu,u->bqm", tanh, effective_v), **TOL
    )
    for name, value in inputs.items():
        got = gradient(
            lambda x, name=name: ops.sum(ops.multiply(score(**{name: x}), weights)),
            value,
        )
        np.testing.assert_allclose(numpy(got), want[name], rtol=1e-4, atol=1e-5)
