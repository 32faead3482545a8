"""Sampling in the decoding core: temperature, top-k, top-p, seeds, compilers."""

import keras
import numpy as np
import pytest
from conftest import compiled
from keras import ops

from keras_seq2seq.backend.random import step_uniform
from keras_seq2seq.decoding import draw_tokens, filter_logits, greedy_search, sample

BACKEND = keras.backend.backend()
RNG = np.random.default_rng(0)
VOCAB = 7
END = 1
# Distinct logits per current token, so greedy has no ties.
TABLE = RNG.normal(0.0, 1.5, (VOCAB, VOCAB)).astype("float32")
PROBS = np.array([0.05, 0.4, 0.1, 0.3, 0.15])
# 99.9% quantiles of the chi-square distribution, by degrees of freedom.
CHI2_999 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515, 6: 22.458}


def numpy(x):
    return ops.convert_to_numpy(x)


def table_step(tokens, state):
    return ops.take(TABLE, tokens, axis=0), state + 1


def reference(probs, temperature=1.0, top_k=None, top_p=None):
    """The truncated, renormalised distribution, computed in NumPy by sorting."""
    logits = np.log(probs) / temperature
    q = np.exp(logits - logits.max())
    q /= q.sum()
    order = np.argsort(-q, kind="stable")
    keep = np.zeros(len(q), bool)
    mass = 0.0
    for rank, token in enumerate(order):
        if top_k is not None and rank >= top_k:
            break
        if top_p is not None and mass >= top_p:
            break
        keep[token] = True
        mass += q[token]
    q = np.where(keep, q, 0.0)
    return q / q.sum()


@pytest.mark.parametrize(
    "kwargs", [{"top_k": 1}, {"top_p": 1e-6}, {"temperature": 1e-4}], ids=str
)
def test_degenerate_sampling_is_greedy_search(kwargs):
    start = np.arange(VOCAB, dtype="int32")
    state = np.zeros(VOCAB, "int32")
    greedy = greedy_search(table_step, start, state, 8, END)
    drawn = sample(table_step, start, state, 8, END, seed=3, **kwargs)
    np.testing.assert_array_equal(numpy(drawn.tokens), numpy(greedy.tokens))
    np.testing.assert_array_equal(numpy(drawn.lengths), numpy(greedy.lengths))
    np.testing.assert_array_equal(numpy(drawn.state), numpy(greedy.state))
    np.testing.assert_allclose(
        numpy(drawn.log_probs), numpy(greedy.log_probs), rtol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"temperature": 0.6},
        {"top_k": 3},
        {"top_p": 0.8},
        {"temperature": 2.0, "top_k": 4, "top_p": 0.7},
    ],
    ids=str,
)
def test_token_frequencies_match_the_truncated_softmax(kwargs):
    draws = 6000
    logits = np.log(PROBS).astype("float32")

    def step(tokens, state):
        return ops.broadcast_to(logits, (draws, len(PROBS))), state

    out = sample(step, np.zeros(draws, "int32"), (), 1, end_token=-1, seed=11, **kwargs)
    counts = np.bincount(numpy(out.tokens)[:, 0], minlength=len(PROBS))
    expected = draws * reference(PROBS, **kwargs)
    support = expected > 0
    # Pearson's statistic sum((observed - expected)^2 / expected) over the kept
    # tokens, below its 99.9% quantile with (kept - 1) degrees of freedom.
    np.testing.assert_array_equal(counts[~support], 0)
    statistic = np.sum((counts[support] - expected[support]) ** 2 / expected[support])
    assert statistic < CHI2_999[int(support.sum()) - 1], (counts, expected)


@pytest.mark.parametrize(
    "top_p, kept",
    [(0.35, [1]), (0.5, [1, 3]), (0.8, [1, 3, 4]), (0.9, [1, 2, 3, 4]), (1.0, None)],
)
def test_top_p_keeps_the_smallest_set_whose_mass_reaches_p(top_p, kept):
    logits = np.log(PROBS).astype("float32")[None]
    finite = np.flatnonzero(numpy(ops.isfinite(filter_logits(logits, top_p=top_p))))
    expected = np.flatnonzero(reference(PROBS, top_p=top_p))
    np.testing.assert_array_equal(finite, expected)
    np.testing.assert_array_equal(finite, range(len(PROBS)) if kept is None else kept)
    # Nothing smaller reaches p: without its least likely token the set falls short.
    assert PROBS[finite].sum() >= top_p - 1e-6
    assert PROBS[finite].sum() - PROBS[finite].min() < top_p


def test_draw_tokens_never_draws_a_removed_token():
    logits = np.log(np.array([[0.0, 0.3, 0.0, 0.7, 0.0]] * 4, "float32") + 1e-30)
    uniform = np.array([0.0, 1e-7, 0.5, 1.0 - 2**-24], "float32")
    tokens = numpy(draw_tokens(logits, uniform, top_k=2))
    np.testing.assert_array_equal(tokens, [1, 1, 3, 3])


def test_the_seed_decides_the_draws():
    flat = np.zeros((VOCAB, VOCAB), "float32")
    flat[:, END] = -30.0  # the rows never end

    def step(tokens, state):
        return ops.take(flat, tokens, axis=0), state

    def run(seed):
        out = sample(step, np.zeros(16, "int32"), (), 6, END, seed=seed)
        return numpy(out.tokens)

    first = run(5)
    assert first.shape == (16, 6)
    np.testing.assert_array_equal(first, run(5))
    assert not np.array_equal(first, run(6))
    generator = keras.random.SeedGenerator(5)
    a = sample(step, np.zeros(16, "int32"), (), 6, END, seed=generator).tokens
    b = sample(step, np.zeros(16, "int32"), (), 6, END, seed=generator).tokens
    assert not np.array_equal(numpy(a), numpy(b))
    again = keras.random.SeedGenerator(5)
    np.testing.assert_array_equal(
        numpy(sample(step, np.zeros(16, "int32"), (), 6, END, seed=again).tokens),
        numpy(a),
    )


def test_sample_compiled_draws_what_eager_draws():
    def run(start, state):
        out = sample(table_step, start, state, 6, END, top_k=4, top_p=0.9, seed=9)
        return out.tokens, out.lengths

    start = ops.convert_to_tensor(np.arange(VOCAB, dtype="int32"))
    state = ops.zeros((VOCAB,), "int32")
    tokens, lengths = run(start, state)
    tokens_c, lengths_c = compiled(run, torch_compile=True)(start, state)
    np.testing.assert_array_equal(numpy(lengths_c), numpy(lengths))
    steps = tokens.shape[1]
    np.testing.assert_array_equal(numpy(tokens_c)[:, :steps], numpy(tokens))
    np.testing.assert_array_equal(numpy(tokens_c)[:, steps:], 0)


def test_step_uniform_is_keyed_by_seed_and_step_eager_and_compiled():
    seed = keras.random.SeedGenerator(3).next()
    eager = numpy(step_uniform((2000,), seed, 4))
    compiled_draw = numpy(
        compiled(lambda s, t: step_uniform((2000,), s, t), torch_compile=True)(
            seed, ops.convert_to_tensor(4, "int32")
        )
    )
    np.testing.assert_array_equal(compiled_draw, eager)
    assert eager.min() >= 0.0 and eager.max() < 1.0
    assert abs(eager.mean() - 0.5) < 0.03 and eager.std() > 0.27
    assert not np.array_equal(eager, numpy(step_uniform((2000,), seed, 5)))
    other = keras.random.SeedGenerator(4).next()
    assert not np.array_equal(eager, numpy(step_uniform((2000,), other, 4)))
    # The same bits on every backend.
    np.testing.assert_array_equal(
        numpy(step_uniform((2, 2), [9, 0], 3)),
        np.array([[0.3761211, 0.8869359], [0.1690908, 0.9628931]], "float32"),
    )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": 0.0}, "top_p"),
    ],
)
def test_sample_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}` must be"):
        sample(table_step, np.zeros(2, "int32"), np.zeros(2, "int32"), 3, END, **kwargs)
