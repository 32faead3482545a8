"""Attention mechanisms against NumPy references: math, masks, dtypes, models, errors."""

import math
import re

import keras
import numpy as np
import pytest
from conftest import NP_MONOTONIC, np_hardmax, np_softmax
from keras import layers, ops

from keras_seq2seq import (
    BahdanauAttention,
    BahdanauMonotonicAttention,
    LuongAttention,
    LuongMonotonicAttention,
    context,
)
from keras_seq2seq.attention import MonotonicAttention

B, TQ, TE, HQ, HM, UNITS = 2, 3, 5, 4, 3, 6
TOL = {"rtol": 1e-5, "atol": 1e-6}

CASES = {
    "bahdanau": (BahdanauAttention, {"units": UNITS}),
    "bahdanau_normalize": (BahdanauAttention, {"units": UNITS, "normalize": True}),
    "bahdanau_hardmax": (
        BahdanauAttention,
        {"units": UNITS, "probability_fn": "hardmax"},
    ),
    "luong_general": (LuongAttention, {}),
    "luong_general_units_scale": (LuongAttention, {"units": HQ, "scale": True}),
    "luong_dot": (LuongAttention, {"score_mode": "dot"}),
    "luong_dot_scale_hardmax": (
        LuongAttention,
        {"score_mode": "dot", "scale": True, "probability_fn": "hardmax"},
    ),
    "luong_concat": (LuongAttention, {"score_mode": "concat", "units": UNITS}),
    "luong_concat_scale": (
        LuongAttention,
        {"score_mode": "concat", "units": UNITS, "scale": True},
    ),
}
MONOTONIC_CASES = {}
for _mode in ("recursive", "parallel", "hard"):
    MONOTONIC_CASES[f"bahdanau_monotonic_{_mode}"] = (
        BahdanauMonotonicAttention,
        {"units": UNITS, "mode": _mode, "score_bias_init": -0.5},
    )
    MONOTONIC_CASES[f"bahdanau_monotonic_normalize_{_mode}"] = (
        BahdanauMonotonicAttention,
        {"units": UNITS, "normalize": True, "mode": _mode, "score_bias_init": 0.7},
    )
    MONOTONIC_CASES[f"luong_monotonic_{_mode}"] = (
        LuongMonotonicAttention,
        {"mode": _mode, "score_bias_init": 0.3},
    )
    MONOTONIC_CASES[f"luong_monotonic_concat_scale_{_mode}"] = (
        LuongMonotonicAttention,
        {"score_mode": "concat", "units": UNITS, "scale": True, "mode": _mode},
    )
ALL_CASES = {**CASES, **MONOTONIC_CASES}
# A few of each kind for the slower model-level tests.
MODEL_CASES = [
    "bahdanau_normalize",
    "luong_general",
    "luong_concat_scale",
    "bahdanau_monotonic_parallel",
    "luong_monotonic_recursive",
]

MASKS = {
    "none": None,
    "lengths_5_3": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool),
    "holes": np.array([[0, 1, 1, 0, 1], [1, 1, 0, 1, 0]], bool),
    "fully_masked_row": np.array([[1, 1, 1, 1, 0], [0, 0, 0, 0, 0]], bool),
}


# ---------------------------------------------------------------- helpers


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def depths(case):
    _, kwargs = ALL_CASES[case]
    return (HQ, HQ) if kwargs.get("score_mode") == "dot" else (HQ, HM)


def make(case, **overrides):
    cls, kwargs = ALL_CASES[case]
    return cls(**{**kwargs, **overrides})


def is_monotonic(layer):
    return isinstance(layer, MonotonicAttention)


def inputs(case, seed=0, batch=B, te=TE, tq=None):
    hq, hm = depths(case)
    rng = np.random.default_rng(seed)
    query_shape = (batch, hq) if tq is None else (batch, tq, hq)
    query = rng.normal(size=query_shape).astype("float32")
    memory = rng.normal(size=(batch, te, hm)).astype("float32")
    return query, memory


def build(layer, case):
    """Creates the weights without a forward pass (`build(query_shape, memory_shape)`)."""
    hq, hm = depths(case)
    layer.build((B, hq), (B, TE, hm))
    assert layer.built
    return layer


def assign_random_weights(layer, seed=0):
    """Sets every weight to a random value of a hand-sized scale; returns them."""
    rng = np.random.default_rng(100 + seed)
    for variable in layer.weights:
        if variable.name == "attention_g":
            value = rng.uniform(0.5, 1.5)
        elif variable.name == "attention_score_bias":
            value = rng.uniform(-1.0, 1.0)
        else:
            value = rng.normal(scale=0.7, size=variable.shape)
        variable.assign(np.asarray(value, "float32").reshape(variable.shape))
    return named_weights(layer)


def named_weights(layer):
    return {v.name: numpy(v).astype("float64") for v in layer.weights}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_scores(layer, query, memory):
    """(B, Tq, Te) scores from the papers' formulas, with the layer's weights."""
    w = named_weights(layer)
    query, memory = query.astype("float64"), memory.astype("float64")
    tq, te = query.shape[1], memory.shape[1]
    if isinstance(layer, BahdanauAttention):
        # e_ij = v . tanh(W_q q_i + W_k m_j [+ b]), v -> g v / |v| when normalized.
        hidden = (query @ w["query_kernel"])[:, :, None] + (
            memory @ w["memory_kernel"]
        )[:, None]
        v = w["attention_v"]
        if layer.normalize:
            v = w["attention_g"] * v / np.sqrt(np.sum(v**2))
            hidden = hidden + w["attention_b"]
        scores = np.tanh(hidden) @ v
    elif layer.score_mode == "dot":
        scores = np.einsum("bqd,btd->bqt", query, memory)
    elif layer.score_mode == "general":
        scores = np.einsum("bqd,btd->bqt", query, memory @ w["memory_kernel"])
    else:  # concat: v . tanh(W [q; m]) with W = [W_q; W_k] stacked on the input axis.
        pairs = np.concatenate(
            [
                np.broadcast_to(
                    query[:, :, None], query.shape[:2] + (te, query.shape[2])
                ),
                np.broadcast_to(
                    memory[:, None], (memory.shape[0], tq) + memory.shape[1:]
                ),
            ],
            axis=-1,
        )
        kernel = np.concatenate([w["query_kernel"], w["memory_kernel"]], axis=0)
        scores = np.tanh(pairs @ kernel) @ w["attention_v"]
    if isinstance(layer, LuongAttention) and layer.scale:
        scores = w["attention_g"] * scores
    if is_monotonic(layer):
        scores = scores + w["attention_score_bias"]
    return scores


def reference_alignments(layer, query, memory, mask=None, previous=None):
    single_step = query.ndim == 2
    scores = reference_scores(layer, query[:, None] if single_step else query, memory)
    if is_monotonic(layer):
        scores = scores[:, 0]
        p = (scores > 0).astype("float64") if layer.mode == "hard" else sigmoid(scores)
        if mask is not None:
            p = p * mask
        if previous is None:
            previous = np.eye(memory.shape[1])[np.zeros(memory.shape[0], int)]
        return NP_MONOTONIC[layer.mode](p, previous)
    probability = np_softmax if layer.probability_fn == "softmax" else np_hardmax
    alignments = probability(scores, mask)
    return alignments[:, 0] if single_step else alignments


def assert_alignments_close(layer, got, want):
    if layer.probability_fn == "hardmax" or getattr(layer, "mode", None) == "hard":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, **TOL)


def check_masked(got, mask):
    """Finite; masked steps exactly 0.0; fully masked rows all 0.0."""
    assert np.all(np.isfinite(got))
    if mask is None:
        return
    keep = mask if got.ndim == 2 else np.broadcast_to(mask[:, None], got.shape)
    assert np.all(got[~keep] == 0.0)
    assert np.all(got[~mask.any(-1)] == 0.0)


def previous_alignments(layer, mask, seed=0):
    """A valid previous step: a distribution (one-hot in hard mode) on kept steps."""
    keep = np.ones((B, TE), bool) if mask is None else mask
    if layer.mode == "hard":
        previous = np.eye(TE)[[1, 2]]
    else:
        previous = np.random.default_rng(seed).uniform(0.1, 1.0, size=(B, TE)) * keep
        previous = previous / np.maximum(previous.sum(-1, keepdims=True), 1e-9)
    return previous.astype("float32")


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_weight_names_shapes_and_initial_values(case):
    layer = build(
        make(case, kernel_initializer=keras.initializers.Constant(0.25)), case
    )
    hq, hm = depths(case)
    _, kwargs = ALL_CASES[case]
    units = kwargs.get("units")
    expected = {}
    if isinstance(layer, BahdanauAttention):
        expected = {"query_kernel": (hq, units), "memory_kernel": (hm, units)}
        expected["attention_v"] = (units,)
        if layer.normalize:
            expected.update(attention_g=(), attention_b=(units,))
    elif layer.score_mode == "general":
        expected = {"memory_kernel": (hm, hq)}
    elif layer.score_mode == "concat":
        expected = {"query_kernel": (hq, units), "memory_kernel": (hm, units)}
        expected["attention_v"] = (units,)
    if isinstance(layer, LuongAttention) and layer.scale:
        expected["attention_g"] = ()
    if is_monotonic(layer):
        expected["attention_score_bias"] = ()
    weights = named_weights(layer)
    assert {name: value.shape for name, value in weights.items()} == expected
    assert len(layer.trainable_weights) == len(expected)
    for name in ("query_kernel", "memory_kernel", "attention_v"):
        if name in weights:
            np.testing.assert_array_equal(weights[name], 0.25)
    if "attention_b" in weights:
        np.testing.assert_array_equal(weights["attention_b"], 0.0)
    if "attention_g" in weights:
        want_g = math.sqrt(1.0 / units) if isinstance(layer, BahdanauAttention) else 1.0
        np.testing.assert_allclose(weights["attention_g"], want_g, rtol=1e-6)
    if is_monotonic(layer):
        np.testing.assert_allclose(
            weights["attention_score_bias"],
            kwargs.get("score_bias_init", 0.0),
            rtol=1e-6,
        )


# ---------------------------------------------------------------- hand examples


def test_bahdanau_known_values():
    layer = BahdanauAttention(units=2)
    query = np.zeros((1, 2), "float32")
    memory = np.array(
        [[[0.0, 0.0], [np.arctanh(np.log(2.0)), 0.3], [np.arctanh(np.log(1.5)), -2.0]]],
        "float32",
    )
    layer(query, memory)
    layer.set_weights([np.eye(2), np.eye(2), np.array([1.0, 0.0])])
    # Scores 0, ln 2, ln 1.5: softmax is proportional to 1, 2, 1.5.
    np.testing.assert_allclose(
        numpy(layer(query, memory)), [[1 / 4.5, 2 / 4.5, 1.5 / 4.5]], **TOL
    )


def test_bahdanau_normalize_known_values():
    layer = BahdanauAttention(units=2, normalize=True)
    query = np.zeros((1, 2), "float32")
    # g v / |v| = 10 [3, 4] / 5 = [6, 8]; b = [0.5, -0.5] inside the tanh.
    memory = np.array(
        [[[-0.5, 0.5], [np.arctanh(np.log(2.0) / 6.0) - 0.5, 0.5]]], "float32"
    )
    layer(query, memory)
    v, g, b = np.array([3.0, 4.0]), np.array(10.0), np.array([0.5, -0.5])
    layer.set_weights([np.eye(2), np.eye(2), v, g, b])
    np.testing.assert_allclose(numpy(layer(query, memory)), [[1 / 3, 2 / 3]], **TOL)


@pytest.mark.parametrize("scale, want", [(False, [1, 2, 3]), (True, [1, 4, 9])])
def test_luong_dot_known_values(scale, want):
    layer = LuongAttention(score_mode="dot", scale=scale)
    query = np.array([[1.0, 0.0, 0.0]], "float32")
    memory = np.array(
        [[[0.0, 0.0, 0.0], [np.log(2.0), 0, 0], [np.log(3.0), 5, 5]]], "float32"
    )
    layer(query, memory)
    if scale:
        layer.set_weights([np.array(2.0)])
    np.testing.assert_allclose(
        numpy(layer(query, memory)), [np.array(want) / sum(want)], **TOL
    )


@pytest.mark.parametrize("mode", ["recursive", "parallel"])
@pytest.mark.parametrize(
    "bias, memory_column, want",
    [
        (0.0, [0.0, 0.0, 20.0], [0.5, 0.25, 0.25]),
        (math.log(3.0), [0.0, 0.0, 0.0], [0.75, 0.1875, 0.046875]),
    ],
)
def test_luong_monotonic_known_values(mode, bias, memory_column, want):
    layer = LuongMonotonicAttention(score_mode="dot", score_bias_init=bias, mode=mode)
    query = np.array([[1.0, 0.0]], "float32")
    memory = np.array([[[m, 1.0] for m in memory_column]], "float32")
    # p_j = sigmoid(q . m_j + r); from step 0: a_j = p_j prod_{k<j} (1 - p_k).
    np.testing.assert_allclose(numpy(layer(query, memory)), [want], **TOL)


# ---------------------------------------------------------------- NumPy references


@pytest.mark.parametrize(
    "weights, rank, mask_name",
    [("initial", 2, "none"), ("initial", 3, "holes")]
    + [("random", rank, mask) for rank in (2, 3) for mask in MASKS],
)
@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case, weights, rank, mask_name):
    layer = make(case)  # "initial": built by the call below.
    if weights == "random":
        assign_random_weights(build(layer, case))
    query, memory = inputs(case, seed=1, tq=TQ if rank == 3 else None)
    mask = MASKS[mask_name]
    got = numpy(layer(query, memory, memory_mask=mask))
    want = reference_alignments(layer, query, memory, mask)
    assert got.shape == want.shape
    assert_alignments_close(layer, got, want)
    check_masked(got, mask)
    kept_rows = np.ones(B, bool) if mask is None else mask.any(-1)
    np.testing.assert_allclose(got.sum(-1)[kept_rows], 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "weights, previous, mask_name",
    [("initial", "default", "none")]
    + [
        ("random", previous, mask)
        for previous in ("default", "given")
        for mask in MASKS
    ],
)
@pytest.mark.parametrize("case", list(MONOTONIC_CASES))
def test_monotonic_matches_reference(case, weights, previous, mask_name):
    layer = make(case)  # "initial": built by the call below.
    if weights == "random":
        assign_random_weights(build(layer, case))
    query, memory = inputs(case, seed=2)
    mask = MASKS[mask_name]
    prev = previous_alignments(layer, mask) if previous == "given" else None
    got = numpy(layer(query, memory, memory_mask=mask, previous_alignments=prev))
    want = reference_alignments(layer, query, memory, mask, prev)
    assert got.shape == (B, TE)
    assert_alignments_close(layer, got, want)
    check_masked(got, mask)
    assert np.all(got >= 0.0)
    assert np.all(got.sum(-1) <= 1.0 + 1e-5)


@pytest.mark.parametrize("case", list(MONOTONIC_CASES))
def test_monotonic_default_previous_is_all_mass_on_first_step(case):
    layer = build(make(case), case)
    query, memory = inputs(case, seed=3)
    first = np.zeros((B, TE), "float32")
    first[:, 0] = 1.0
    np.testing.assert_array_equal(numpy(layer.initial_alignments(B, TE)), first)
    np.testing.assert_array_equal(
        numpy(layer(query, memory)),
        numpy(layer(query, memory, previous_alignments=first)),
    )


def test_initial_alignments_of_soft_mechanisms_are_zeros():
    layer = BahdanauAttention(units=UNITS)
    out = layer.initial_alignments(B, TE)
    np.testing.assert_array_equal(numpy(out), np.zeros((B, TE)))


@pytest.mark.parametrize("mode", ["recursive", "parallel", "hard"])
@pytest.mark.parametrize(
    "cls",
    [BahdanauMonotonicAttention, LuongMonotonicAttention],
    ids=["bahdanau", "luong"],
)
def test_sigmoid_noise(cls, mode):
    case = (
        "bahdanau_monotonic_parallel"
        if cls is BahdanauMonotonicAttention
        else ("luong_monotonic_parallel")
    )
    query, memory = inputs(case, seed=4)
    clean = build(make(case, mode=mode), case)
    assign_random_weights(clean)
    noisy, twin = (
        build(make(case, mode=mode, sigmoid_noise=2.0, sigmoid_noise_seed=7), case)
        for _ in range(2)
    )
    for layer in (noisy, twin):
        layer.set_weights(clean.get_weights())
    want = numpy(clean(query, memory))
    first = numpy(noisy(query, memory))
    for got in (first, numpy(noisy(query, memory))):
        assert got.shape == (B, TE)
        assert np.all(np.isfinite(got))
        assert np.all((got >= 0.0) & (got <= 1.0))
        assert np.all(got.sum(-1) <= 1.0 + 1e-5)
        if mode == "hard":
            assert set(np.unique(got)) <= {0.0, 1.0}
    if mode != "hard":
        assert np.max(np.abs(first - want)) > 1e-3
    # Same seed, same weights, same inputs: the same noise on the first call.
    twin_first = numpy(twin(query, memory))
    np.testing.assert_array_equal(twin_first, first)


# ---------------------------------------------------------------- query ranks


@pytest.mark.parametrize("mask_name", ["none", "holes", "fully_masked_row"])
@pytest.mark.parametrize("case", list(CASES))
def test_rank3_query_matches_rank2_per_step(case, mask_name):
    layer = build(make(case), case)
    assign_random_weights(layer, seed=5)
    query, memory = inputs(case, seed=5, tq=TQ)
    mask = MASKS[mask_name]
    many = numpy(layer(query, memory, memory_mask=mask))
    assert many.shape == (B, TQ, TE)
    for t in range(TQ):
        one = numpy(layer(query[:, t], memory, memory_mask=mask))
        assert one.shape == (B, TE)
        np.testing.assert_allclose(many[:, t], one, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- masks


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_appended_padding_changes_nothing(case):
    layer = build(make(case), case)
    assign_random_weights(layer, seed=6)
    query, memory = inputs(case, seed=6, tq=None if case in MONOTONIC_CASES else TQ)
    mask = MASKS["lengths_5_3"]
    extra = 3
    padding = np.random.default_rng(9).normal(
        scale=3.0, size=(B, extra, memory.shape[-1])
    )
    long_memory = np.concatenate([memory, padding.astype("float32")], axis=1)
    long_mask = np.concatenate([mask, np.zeros((B, extra), bool)], axis=1)
    short = numpy(layer(query, memory, memory_mask=mask))
    long = numpy(layer(query, long_memory, memory_mask=long_mask))
    assert long.shape[-1] == TE + extra
    check_masked(short, mask)
    check_masked(long, long_mask)
    np.testing.assert_allclose(long[..., :TE], short, rtol=1e-6, atol=1e-7)
    if layer.probability_fn == "softmax" and getattr(layer, "mode", None) != "hard":
        # Without the mask the padding would get weight: the mask did the work.
        unmasked = numpy(layer(query, long_memory))
        assert np.all(unmasked[..., TE:] > 0.0)


@pytest.mark.parametrize(
    "case", ["bahdanau", "luong_concat", "bahdanau_monotonic_parallel"]
)
def test_keras_mask_on_memory_is_honoured(case):
    _, hm = depths(case)
    tokens_in = keras.Input((TE,), dtype="int32")
    query_in = keras.Input((HQ,))
    embedded = layers.Embedding(11, 3, mask_zero=True)(tokens_in)
    memory = layers.LSTM(hm, return_sequences=True)(embedded)
    mechanism = make(case)
    alignments = mechanism(query_in, memory)  # no memory_mask: the Keras mask
    model = keras.Model([tokens_in, query_in], [alignments, memory])

    tokens = np.array([[3, 4, 5, 6, 7], [2, 9, 1, 0, 0]], "int32")
    mask = tokens != 0
    query = np.random.default_rng(8).normal(size=(B, HQ)).astype("float32")
    got, memory_values = model.predict([tokens, query], verbose=0)
    want = numpy(mechanism(query, memory_values, memory_mask=mask))
    check_masked(got, mask)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Without a mask the padded steps would get weight.
    assert np.all(numpy(mechanism(query, memory_values))[~mask] > 0.0)
    if case == "bahdanau":
        # Eagerly, too: the mask rides on the LSTM's output tensor.
        eager_memory = layers.LSTM(hm, return_sequences=True)(
            layers.Embedding(11, 3, mask_zero=True)(tokens)
        )
        check_masked(numpy(mechanism(query, eager_memory)), mask)


# ---------------------------------------------------------------- mixed precision


LOW_PRECISION_CASES = [
    "bahdanau_normalize",
    "luong_general",
    "luong_concat_scale",
    "bahdanau_monotonic_parallel",
    "luong_monotonic_recursive",
    "bahdanau_monotonic_hard",
]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("case", LOW_PRECISION_CASES)
def test_mixed_precision(case, policy):
    full = build(make(case), case)
    assign_random_weights(full, seed=10)
    low = build(make(case, dtype=policy), case)
    low.set_weights(full.get_weights())
    assert all(
        keras.backend.standardize_dtype(v.dtype) == "float32" for v in low.weights
    )
    compute_dtype = policy.split("_")[1]
    query, memory = inputs(case, seed=10)
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], bool)
    out = low(query, memory, memory_mask=mask)
    assert keras.backend.standardize_dtype(out.dtype) == compute_dtype
    got = numpy(ops.cast(out, "float32"))
    want = numpy(full(query, memory, memory_mask=mask))
    check_masked(got, mask)
    if full.probability_fn == "hardmax" or getattr(full, "mode", None) == "hard":
        # A score near 0 or a near-tie may flip in low precision: check the form.
        assert set(np.unique(got)) <= {0.0, 1.0}
        assert np.all(got.sum(-1) <= 1.0)
    else:
        atol = 1e-2 if compute_dtype == "float16" else 4e-2
        np.testing.assert_allclose(got, want, atol=atol)


# ---------------------------------------------------------------- models


def model_for(case, mechanism, rank=2, with_previous=False):
    hq, hm = depths(case)
    query_in = keras.Input((hq,) if rank == 2 else (TQ, hq))
    memory_in = keras.Input((TE, hm))
    mask_in = keras.Input((TE,), dtype="bool")
    model_inputs = [query_in, memory_in, mask_in]
    kwargs = {"memory_mask": mask_in}
    if with_previous:
        previous_in = keras.Input((TE,))
        model_inputs.append(previous_in)
        kwargs["previous_alignments"] = previous_in
    alignments = mechanism(query_in, memory_in, **kwargs)
    return keras.Model(model_inputs, alignments), alignments


def model_data(case, batch=B, rank=2, with_previous=False, seed=11):
    query, memory = inputs(case, seed=seed, batch=batch, tq=TQ if rank == 3 else None)
    mask = np.ones((batch, TE), bool)
    mask[1, 3:] = False
    data = [query, memory, mask]
    if with_previous:
        data.append(np.eye(TE, dtype="float32")[np.arange(batch) % 2])
    return data


@pytest.mark.parametrize(
    "case, rank",
    [
        (case, rank)
        for case in MODEL_CASES
        for rank in (2, 3)
        if case in CASES or rank == 2
    ],
)
def test_functional_model_with_unknown_batch(case, rank):
    mechanism = make(case)
    with_previous = case in MONOTONIC_CASES
    model, symbolic = model_for(case, mechanism, rank, with_previous)
    assert tuple(symbolic.shape) == ((None, TE) if rank == 2 else (None, TQ, TE))
    # 3 samples in batches of 2: the compiled model sees batch sizes 2 and 1.
    data = model_data(case, 3, rank, with_previous)
    got = model.predict(data, batch_size=2, verbose=0)
    want = mechanism(data[0], data[1], *data[2:])
    np.testing.assert_allclose(got, numpy(want), **TOL)
    np.testing.assert_allclose(got, reference_alignments(mechanism, *data), **TOL)
    check_masked(got, data[2])


@pytest.mark.parametrize(
    "case, overrides",
    [
        ("bahdanau_normalize", {}),
        ("luong_concat_scale", {}),
        (
            "bahdanau_monotonic_parallel",
            {"sigmoid_noise": 1.0, "sigmoid_noise_seed": 3},
        ),
        ("luong_monotonic_recursive", {}),
    ],
)
def test_fit_one_step(case, overrides):
    hq, hm = depths(case)
    mechanism = make(case, **overrides)
    query_in, memory_in = keras.Input((hq,)), keras.Input((TE, hm))
    alignments = mechanism(query_in, memory_in)
    output = layers.Dense(1)(context(alignments, memory_in))
    model = keras.Model([query_in, memory_in], output)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    query, memory = inputs(case, seed=12)
    target = np.array([[1.0], [-1.0]], "float32")
    before = named_weights(mechanism)
    history = model.fit([query, memory], target, batch_size=B, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = named_weights(mechanism)
    assert before.keys() == after.keys()
    for name in before:
        assert np.all(np.isfinite(after[name])), name
        assert np.any(after[name] != before[name]), f"{name} did not change"


@pytest.mark.parametrize(
    "case",
    list(CASES) + ["bahdanau_monotonic_hard", "luong_monotonic_concat_scale_parallel"],
)
def test_config_round_trip(case):
    layer = build(make(case, name="attn"), case)
    assign_random_weights(layer, seed=13)
    config = layer.get_config()
    _, kwargs = ALL_CASES[case]
    for key, value in kwargs.items():
        assert config[key] == value
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    build(clone, case)
    clone.set_weights(layer.get_weights())
    query, memory = inputs(case, seed=13)
    mask = MASKS["holes"]
    np.testing.assert_array_equal(
        numpy(clone(query, memory, memory_mask=mask)),
        numpy(layer(query, memory, memory_mask=mask)),
    )
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is type(layer)
    assert revived.get_config() == config


def test_config_round_trip_of_monotonic_options():
    layer = make(
        "bahdanau_monotonic_recursive", sigmoid_noise=0.5, sigmoid_noise_seed=4
    )
    config = layer.get_config()
    assert config["sigmoid_noise"] == 0.5
    assert config["sigmoid_noise_seed"] == 4
    assert config["score_bias_init"] == -0.5
    assert config["mode"] == "recursive"
    assert BahdanauMonotonicAttention.from_config(config).get_config() == config


def test_config_round_trip_keeps_mixed_precision_policy():
    layer = make("bahdanau_monotonic_parallel", dtype="mixed_bfloat16")
    clone = BahdanauMonotonicAttention.from_config(layer.get_config())
    assert clone.compute_dtype == "bfloat16"
    assert clone.variable_dtype == "float32"


@pytest.mark.parametrize("case", MODEL_CASES)
def test_keras_save_and_load(case, tmp_path):
    mechanism = make(case)
    with_previous = case in MONOTONIC_CASES
    model, _ = model_for(case, mechanism, 2, with_previous)
    assign_random_weights(mechanism, seed=14)
    data = model_data(case, 3, 2, with_previous, seed=14)
    want = model.predict(data, verbose=0)
    path = tmp_path / "attention.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    revived = [layer for layer in loaded.layers if type(layer) is type(mechanism)]
    assert len(revived) == 1
    assert revived[0].get_config() == mechanism.get_config()
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), want)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("units", [0, -3, 2.5, "4", True])
@pytest.mark.parametrize(
    "cls",
    [
        BahdanauAttention,
        LuongAttention,
        BahdanauMonotonicAttention,
        LuongMonotonicAttention,
    ],
)
def test_bad_units(cls, units):
    with pytest.raises(ValueError, match="units"):
        cls(units=units)


def test_bahdanau_requires_units_and_concat_requires_units():
    with pytest.raises(ValueError, match="units"):
        BahdanauAttention(units=None)
    with pytest.raises(ValueError, match="units"):
        LuongAttention(score_mode="concat")


@pytest.mark.parametrize(
    "case", ["bahdanau", "luong_general", "luong_monotonic_parallel"]
)
def test_unknown_probability_fn(case):
    with pytest.raises(ValueError, match="probability_fn"):
        make(case, probability_fn="sparsemax")


@pytest.mark.parametrize("cls", [LuongAttention, LuongMonotonicAttention])
def test_unknown_score_mode(cls):
    with pytest.raises(ValueError, match="score_mode"):
        cls(units=HQ, score_mode="bilinear")


@pytest.mark.parametrize("mode", ["soft", "PARALLEL", None])
@pytest.mark.parametrize(
    "case", ["bahdanau_monotonic_parallel", "luong_monotonic_parallel"]
)
def test_unknown_monotonic_mode(case, mode):
    with pytest.raises(ValueError, match="mode"):
        make(case, mode=mode)


def test_negative_sigmoid_noise():
    with pytest.raises(ValueError, match="sigmoid_noise"):
        BahdanauMonotonicAttention(units=UNITS, sigmoid_noise=-0.1)


@pytest.mark.parametrize("case", ["bahdanau", "luong_general", "luong_concat"])
@pytest.mark.parametrize(
    "query_shape, memory_shape, message",
    [
        ((B, 1, 2, HQ), (B, TE, HM), r"`query` must have rank 2"),
        ((HQ,), (B, TE, HM), r"`query` must have rank 2"),
        ((B, HQ), (B, HM), r"`memory` must have rank 3"),
        ((B, HQ), (B, 1, TE, HM), r"`memory` must have rank 3"),
        (
            (3 * B, HQ),
            (B, TE, HM),
            r"same batch size.*tile_batch\(\.\.\., multiplier=3\)",
        ),
        ((3 * B, TQ, HQ), (B, TE, HM), r"same batch size.*tile_batch"),
    ],
)
def test_bad_input_ranks_and_batches(case, query_shape, memory_shape, message):
    with pytest.raises(ValueError, match=message):
        make(case)(np.ones(query_shape, "float32"), np.ones(memory_shape, "float32"))


@pytest.mark.parametrize("query_batch, memory_batch", [(3, 2), (2, 4), (5, 3)])
def test_batch_mismatch_without_integer_ratio_has_no_tile_hint(
    query_batch, memory_batch
):
    with pytest.raises(ValueError, match="same batch size") as info:
        BahdanauAttention(units=UNITS)(
            np.ones((query_batch, HQ), "float32"),
            np.ones((memory_batch, TE, HM), "float32"),
        )
    assert "tile_batch" not in str(info.value)


@pytest.mark.parametrize("case", ["bahdanau", "luong_dot", "bahdanau_monotonic_hard"])
@pytest.mark.parametrize("mask_shape", [(B, TE - 1), (B + 1, TE), (B, TE, 1), (TE,)])
def test_mask_of_wrong_shape(case, mask_shape):
    query, memory = inputs(case)
    with pytest.raises(ValueError, match="memory_mask"):
        make(case)(query, memory, memory_mask=np.ones(mask_shape, bool))


@pytest.mark.parametrize("case", list(MONOTONIC_CASES))
def test_monotonic_rejects_rank3_query(case):
    query, memory = inputs(case, tq=TQ)
    with pytest.raises(ValueError, match=re.escape("one decoder step at a time")):
        make(case)(query, memory)


@pytest.mark.parametrize("cls", [LuongAttention, LuongMonotonicAttention])
def test_luong_dot_needs_equal_depths(cls):
    query, memory = inputs("luong_general")
    with pytest.raises(ValueError, match="equal query and memory depths"):
        cls(score_mode="dot")(query, memory)


@pytest.mark.parametrize("cls", [LuongAttention, LuongMonotonicAttention])
@pytest.mark.parametrize("units", [HQ - 1, HQ + 2])
def test_luong_general_units_must_equal_query_depth(cls, units):
    query, memory = inputs("luong_general")
    with pytest.raises(ValueError, match=rf"`units` must equal it.*units={units}"):
        cls(units=units)(query, memory)
