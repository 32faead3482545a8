"""The tiny translator the serving tests load, and the sentences to send."""

import pytest

from keras_seq2seq.translate import load


@pytest.fixture(scope="package")
def trained(tiny_translator):
    """`(model directory, test sentences)` of a tiny model."""
    directory, sentences = tiny_translator
    return directory, sentences[:16]


@pytest.fixture(scope="package")
def translator(trained):
    return load(trained[0])
