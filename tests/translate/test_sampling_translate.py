"""Sampled translations (`Sampling`): top-k 1 is greedy, a seed reproduces its
draws, n-best gives independent draws, and sampling refuses a beam."""

import pytest

from keras_seq2seq.translate import PipelineError, Sampling, load

pytestmark = pytest.mark.usefixtures("jax_compilation_cache")


@pytest.fixture(scope="module")
def translator(tiny_translator):
    return load(tiny_translator[0])


@pytest.fixture(scope="module")
def sentences(tiny_translator):
    return tiny_translator[1][:12] + [""]


def test_top_k_1_is_greedy(translator, sentences):
    greedy = translator.hypotheses(sentences)
    sampled = translator.hypotheses(sentences, sampling=Sampling(top_k=1, seed=7))
    assert [f[0].text for f in sampled] == [f[0].text for f in greedy]
    for got, want in zip(sampled, greedy):
        assert got[0].score == pytest.approx(want[0].score, abs=1e-4)


def test_a_seed_reproduces_its_draws(translator, sentences):
    hot = dict(temperature=1.5)
    first = translator.translate(sentences, sampling=Sampling(seed=3, **hot))
    again = translator.translate(sentences, sampling=Sampling(seed=3, **hot))
    other = translator.translate(sentences, sampling=Sampling(seed=4, **hot))
    assert first == again
    assert first != other
    assert first[-1] == other[-1] == ""


def test_n_best_draws_independently(translator, sentences):
    found = translator.hypotheses(
        sentences, n_best=4, sampling=Sampling(seed=5, temperature=1.5)
    )
    assert [len(f) for f in found] == [4] * len(sentences)
    for draws in found[:-1]:
        scores = [h.score for h in draws]
        assert scores == sorted(scores, reverse=True)
    # A tiny model at temperature 1.5: four draws of a sentence differ.
    assert all(len({h.text for h in draws}) > 1 for draws in found[:-1])


def test_sampling_needs_beam_1(translator, sentences):
    with pytest.raises(PipelineError, match="`beam` must be 1. Received: beam=3"):
        translator.translate(sentences, beam=3, sampling=Sampling())
