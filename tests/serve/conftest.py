"""A tiny model trained once for the serving tests, and the sentences to send."""

import gzip

import pytest

from keras_seq2seq.translate import default_corpus_path, load, train

TINY = dict(
    epochs=1,
    vocab_size=300,
    max_length=8,
    batch_size=64,
    bleu_sentences=32,
    model_options=dict(
        embedding_dim=8, encoder_units=8, decoder_units=16, encoder_layers=1
    ),
)


@pytest.fixture(scope="package")
def trained(tmp_path_factory):
    """`(model directory, test sentences)` of a tiny model."""
    lines = gzip.decompress(default_corpus_path().read_bytes()).split(b"\n")
    path = tmp_path_factory.mktemp("corpus") / "pairs.txt"
    path.write_bytes(b"\n".join(lines[:1000]) + b"\n")
    out = tmp_path_factory.mktemp("run") / "model"
    train(path, out, log=[].append, **TINY)
    sentences = [
        line.split("\t")[0] for line in (out / "test.tsv").read_text().split("\n")
    ]
    return out, [s for s in sentences if s][:16]


@pytest.fixture(scope="package")
def translator(trained):
    return load(trained[0])
