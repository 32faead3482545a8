"""A smoke run of `benchmarks/pipeline_step.py` on a slice of the bundled
corpus (every 20th pair, 1,000 pieces): one bucket shape, one timed step, in
this process on the session's backend. The figures mean nothing; the test keeps
the script from rotting and checks that it compiles the model the way
`keras-seq2seq train` does."""

import gzip

import keras
from conftest import load_benchmark

from keras_seq2seq.translate import default_corpus_path


def test_pipeline_step_measures_the_default_model(tmp_path):
    module = load_benchmark("pipeline_step.py")
    lines = gzip.decompress(default_corpus_path().read_bytes()).split(b"\n")
    corpus = tmp_path / "pairs.txt"
    corpus.write_bytes(b"\n".join(lines[::20]) + b"\n")

    run = module.measure(
        module.parse_args(
            [f"--pairs={corpus}", "--vocab-size=1000", "--steps=1", "--shapes=1"]
        )
    )

    assert run["backend"] == keras.backend.backend()
    assert run["jit_compile"] == (keras.backend.backend() != "torch")
    assert run["parameters"] > 1_000_000
    assert len(run["shapes"]) == 1 and len(run["first_step_s"]) == 1
    assert len(run["tokens_per_s"]) == 1 and run["median_tokens_per_s"] > 0
