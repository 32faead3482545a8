"""SubwordTokenizer: training on real sentence pairs, round trips, special ids,
save/load, determinism and errors."""

import gzip
import itertools

import numpy as np
import pytest

from keras_seq2seq.translate import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    SubwordTokenizer,
    default_corpus_path,
    read_pairs,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every 40th of the bundled corpus's lines (short and long sentences)."""
    with gzip.open(default_corpus_path()) as file:
        lines = list(itertools.islice(file, 0, None, 40))
    path = tmp_path_factory.mktemp("data") / "sample.txt"
    path.write_bytes(b"".join(lines))
    return read_pairs(path)


@pytest.fixture(scope="module")
def tokenizers(corpus):
    return (
        SubwordTokenizer.train(corpus.sources, vocab_size=1000),
        SubwordTokenizer.train(corpus.targets, vocab_size=1000),
    )


def test_trained_on_real_pairs_with_the_requested_size(corpus, tokenizers):
    assert len(corpus) > 4000
    for tokenizer in tokenizers:
        assert tokenizer.vocab_size == 1000
        assert repr(tokenizer) == "SubwordTokenizer(vocab_size=1000)"


def test_round_trip_of_normalised_sentences(corpus, tokenizers):
    for tokenizer, sentences in zip(tokenizers, (corpus.sources, corpus.targets)):
        sentences = list(sentences)
        ids = tokenizer.encode(sentences)
        assert tokenizer.decode(ids) == sentences
        assert all(UNK_ID not in row for row in ids)
        # Subwords: fewer pieces than characters.
        assert sum(map(len, ids)) < 0.5 * sum(map(len, sentences))


def test_special_ids_are_fixed(tokenizers):
    for tokenizer in tokenizers:
        assert (tokenizer.pad_id, tokenizer.unk_id) == (PAD_ID, UNK_ID) == (0, 1)
        assert (tokenizer.bos_id, tokenizer.eos_id) == (BOS_ID, EOS_ID) == (2, 3)
        assert tokenizer.id_to_piece([0, 1, 2, 3]) == ["<pad>", "<unk>", "<s>", "</s>"]
        ids = tokenizer.encode(["Tom is here."])[0]
        assert min(ids) > EOS_ID


def test_encode_normalises_like_the_corpus_reader(tokenizers):
    french = tokenizers[1]
    assert french.encode(["Cours\u202f!"]) == french.encode(["Cours !"])
    assert french.encode(["  Cours \u00a0 !  "]) == french.encode(["Cours !"])
    assert french.decode(french.encode(["Cours\u202f!"])) == ["Cours !"]


def test_decode_stops_at_eos_and_skips_pad_and_bos(tokenizers):
    english = tokenizers[0]
    ids = english.encode(["I am here.", "Go."])
    padded = np.zeros((2, 12), np.int32)
    for row, sequence in enumerate(ids):
        padded[row, 0] = BOS_ID
        padded[row, 1 : len(sequence) + 1] = sequence
        padded[row, len(sequence) + 1] = EOS_ID
    padded[1, -1] = ids[0][0]  # after eos: ignored
    assert english.decode(padded) == ["I am here.", "Go."]
    assert english.decode([[], [EOS_ID, *ids[1]]]) == ["", ""]


def test_unseen_characters_become_unk(tokenizers):
    english = tokenizers[0]
    ids = english.encode(["Tom \u2603"])[0]
    assert UNK_ID in ids
    assert english.decode([ids]) == ["Tom \u2047"]


def test_pieces_label_the_ids(tokenizers):
    english = tokenizers[0]
    ids = english.encode(["Tom is here."])[0]
    pieces = english.id_to_piece(np.asarray(ids))
    assert "".join(pieces).replace("\u2581", " ").strip() == "Tom is here."


def test_save_load_equality(tokenizers, tmp_path):
    source, target = tokenizers
    assert source.save(tmp_path, "source") == tmp_path / "source.model"
    target.save(tmp_path, "target")
    loaded_source = SubwordTokenizer.load(tmp_path, "source")
    assert loaded_source == source
    assert loaded_source != target
    assert SubwordTokenizer.load(tmp_path, "target") == target
    text = ["Where is the station?", "Je ne sais pas."]
    assert loaded_source.encode(text) == source.encode(text)
    default = source.save(tmp_path / "new" / "dir")
    assert default.name == "tokenizer.model"
    assert SubwordTokenizer.load(tmp_path / "new" / "dir") == source


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="source.model"):
        SubwordTokenizer.load(tmp_path, "source")
    (tmp_path / "broken.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        SubwordTokenizer.load(tmp_path, "broken")


def test_training_is_deterministic(corpus):
    sentences = corpus.sources[:1500]
    first = SubwordTokenizer.train(sentences, vocab_size=500)
    assert SubwordTokenizer.train(iter(sentences), vocab_size=500) == first


def test_bpe_model_type(corpus):
    tokenizer = SubwordTokenizer.train(corpus.targets[:1500], 400, model_type="bpe")
    text = list(corpus.targets[:50])
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_vocab_size_too_large_names_the_maximum(corpus):
    with pytest.raises(ValueError) as info:
        SubwordTokenizer.train(corpus.sources[:200], vocab_size=100_000)
    message = str(info.value)
    assert "vocab_size=100000" in message
    maximum = int(message.split("at most ")[1].split(".")[0])
    assert 50 < maximum < 100_000
    assert SubwordTokenizer.train(corpus.sources[:200], maximum).vocab_size == maximum


def test_vocab_size_too_small_for_the_characters():
    with pytest.raises(ValueError, match=r"at least 9 .*vocab_size=6"):
        SubwordTokenizer.train(["abc", "cab", "bca", "a b c d"], vocab_size=6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sentences": ["", "  "]}, "no non-blank sentence"),
        ({"vocab_size": 10.0}, r"`vocab_size` must be an integer.*10\.0"),
        ({"num_threads": 0}, r"`num_threads` must be >= 1"),
        ({"model_type": "word"}, r"model_type='word'"),
        ({"character_coverage": 0.0}, r"character_coverage=0.0"),
    ],
)
def test_invalid_training_arguments(kwargs, match):
    arguments = {"sentences": ["a b c"] * 5, "vocab_size": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        SubwordTokenizer.train(**arguments)


def test_a_single_string_is_refused(tokenizers):
    with pytest.raises(ValueError, match="list of sentences"):
        tokenizers[0].encode("Go.")
