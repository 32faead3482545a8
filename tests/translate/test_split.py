"""split_corpus / Split.save / load_split: grouping by source, sizes,
determinism, and the record that evaluation reads."""

import hashlib
import json
import random

import pytest

from keras_seq2seq.translate import Split, load_split, read_pairs, split_corpus


def write_pairs(path, pairs):
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return path


def tatoeba_like_pairs(sources=400, seed=0):
    """Each source with 1 to 4 translations, like Tatoeba."""
    rng = random.Random(seed)
    return [
        (f"Sentence {i}.", f"Phrase {i}, traduction {k}.")
        for i in range(sources)
        for k in range(rng.randint(1, 4))
    ]


@pytest.fixture
def corpus(tmp_path):
    return read_pairs(write_pairs(tmp_path / "pairs.txt", tatoeba_like_pairs()))


def test_every_pair_in_exactly_one_split(corpus):
    split = split_corpus(corpus, test_size=100, valid_size=50)
    lines = [*split.train.line_numbers, *split.valid.line_numbers]
    lines += split.test.line_numbers
    assert sorted(lines) == list(corpus.line_numbers)
    for part in (split.train, split.valid, split.test):
        assert list(part.line_numbers) == sorted(part.line_numbers)
        for (source, target), line in zip(part, part.line_numbers):
            index = corpus.line_numbers.index(line)
            assert (source, target) == (corpus.sources[index], corpus.targets[index])


def test_each_source_sentence_in_one_split_only(corpus):
    split = split_corpus(corpus, test_size=100, valid_size=50)
    train, valid, test = (
        set(p.sources) for p in (split.train, split.valid, split.test)
    )
    assert not train & valid
    assert not train & test
    assert not valid & test


def test_sizes_reach_the_request_by_less_than_one_group(corpus):
    largest_group = max(corpus.sources.count(s) for s in set(corpus.sources))
    split = split_corpus(corpus, test_size=100, valid_size=0.05)
    assert 100 <= len(split.test) < 100 + largest_group
    expected_valid = round(0.05 * len(corpus))
    assert expected_valid <= len(split.valid) < expected_valid + largest_group


def test_same_seed_same_split_other_seed_other_split(corpus):
    first = split_corpus(corpus, seed=3)
    assert split_corpus(corpus, seed=3) == first
    assert split_corpus(corpus, seed=4).test != first.test


def test_independent_of_the_order_of_the_lines(tmp_path):
    pairs = tatoeba_like_pairs()
    shuffled = pairs[:]
    random.Random(1).shuffle(shuffled)
    a = split_corpus(read_pairs(write_pairs(tmp_path / "a.txt", pairs)), seed=7)
    b = split_corpus(read_pairs(write_pairs(tmp_path / "b.txt", shuffled)), seed=7)
    for name in ("train", "valid", "test"):
        assert sorted(getattr(a, name)) == sorted(getattr(b, name))


def test_groups_are_ordered_by_sha256_of_seed_and_source(tmp_path):
    """The documented order, so a split is the same on any Python version."""
    sources = [f"s{i}" for i in range(20)]
    corpus = read_pairs(write_pairs(tmp_path / "p.txt", [(s, s) for s in sources]))
    split = split_corpus(corpus, test_size=3, valid_size=2, seed=5)
    order = sorted(sources, key=lambda s: hashlib.sha256(f"5\t{s}".encode()).digest())
    assert set(split.test.sources) == set(order[:3])
    assert set(split.valid.sources) == set(order[3:5])


def test_default_sizes_for_a_small_corpus(tmp_path):
    pairs = [(f"Source {i}.", f"Cible {i}.") for i in range(50)]
    split = split_corpus(read_pairs(write_pairs(tmp_path / "small.txt", pairs)))
    assert (len(split.train), len(split.valid), len(split.test)) == (40, 5, 5)


def test_default_sizes_for_the_full_corpus_are_2000():
    from keras_seq2seq.translate.split import _resolve_size

    assert _resolve_size("test_size", None, 167_130) == 2000
    assert _resolve_size("test_size", None, 10_000) == 1000
    assert _resolve_size("test_size", None, 3) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_size": -1}, r"`test_size` as a count must be in \[0, 977\)"),
        ({"valid_size": 977}, r"valid_size=977"),
        ({"test_size": 1.0}, r"`test_size` as a fraction must be in \[0, 1\)"),
        ({"test_size": "10"}, r"`test_size` must be an int count.*'10'"),
        ({"valid_size": True}, r"valid_size=True"),
        ({"seed": 1.5}, r"`seed` must be an integer. Received: seed=1.5"),
        ({"test_size": 0.6, "valid_size": 0.45}, r"Nothing left for training"),
    ],
)
def test_invalid_arguments(corpus, kwargs, match):
    assert len(corpus) == 977
    with pytest.raises(ValueError, match=match):
        split_corpus(corpus, **kwargs)


def test_one_source_cannot_be_split(tmp_path):
    pairs = [("Same.", f"Traduction {k}.") for k in range(10)]
    corpus = read_pairs(write_pairs(tmp_path / "one.txt", pairs))
    with pytest.raises(ValueError, match="10 pairs with 1 distinct sources"):
        split_corpus(corpus)


def test_save_writes_readable_tsv_and_a_compact_record(corpus, tmp_path):
    split = split_corpus(corpus, test_size=100, valid_size=50)
    path = split.save(tmp_path / "model")
    assert path == tmp_path / "model" / "split.json"
    for name in ("valid", "test"):
        reread = read_pairs(tmp_path / "model" / f"{name}.tsv")
        assert list(reread) == list(getattr(split, name))
        assert reread.skipped == {}
    record = json.loads(path.read_text())
    assert record["seed"] == 0
    assert record["corpus"] == {
        "path": corpus.path,
        "sha256": corpus.sha256,
        "reverse": False,
    }
    assert record["sizes"] == {
        "train": len(split.train),
        "valid": len(split.valid),
        "test": len(split.test),
    }
    # Training lines are stored as runs of consecutive line numbers.
    runs = record["line_runs"]["train"]
    assert sum(last - first + 1 for first, last in runs) == len(split.train)
    assert len(runs) <= len(split.valid) + len(split.test) + 1


def test_load_without_the_corpus_has_valid_and_test_only(corpus, tmp_path):
    split = split_corpus(corpus, test_size=100, valid_size=50)
    split.save(tmp_path)
    loaded = load_split(tmp_path)
    assert loaded.train is None
    assert loaded.test == split.test  # pairs and original line numbers
    assert loaded.valid == split.valid
    assert (loaded.seed, loaded.corpus_sha256) == (0, corpus.sha256)
    assert "train not loaded" in loaded.summary()
    with pytest.raises(ValueError, match="loaded without its corpus"):
        loaded.save(tmp_path / "again")


def test_load_with_the_corpus_restores_everything(corpus, tmp_path):
    split = split_corpus(corpus, seed=2)
    split.save(tmp_path)
    assert load_split(tmp_path, corpus) == split


def test_load_reversed_split(corpus, tmp_path):
    reverse = read_pairs(corpus.path, reverse=True)
    split = split_corpus(reverse)
    split.save(tmp_path)
    loaded = load_split(tmp_path, reverse)
    assert loaded == split
    assert loaded.test.sources[0].startswith("Phrase")


def test_load_refuses_another_corpus(corpus, tmp_path):
    split_corpus(corpus).save(tmp_path / "model")
    with pytest.raises(ValueError, match="not the one the split"):
        load_split(tmp_path / "model", read_pairs(corpus.path, reverse=True))
    other = write_pairs(tmp_path / "other.txt", [("A.", "B."), ("C.", "D.")])
    with pytest.raises(ValueError, match=f"expected sha256 {corpus.sha256}"):
        load_split(tmp_path / "model", read_pairs(other))


def test_load_missing_split_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="split.json"):
        load_split(tmp_path)


def test_empty_valid_split_round_trips(corpus, tmp_path):
    split = split_corpus(corpus, valid_size=0)
    assert len(split.valid) == 0
    split.save(tmp_path)
    assert load_split(tmp_path, corpus) == split


def test_summary(corpus):
    split = split_corpus(corpus, test_size=100, valid_size=50)
    assert isinstance(split, Split)
    assert split.summary() == (
        f"split of {corpus.path} (seed 0): train {len(split.train):,} pairs, "
        f"valid {len(split.valid):,} pairs, test {len(split.test):,} pairs"
    )
