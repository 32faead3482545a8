"""The pipeline's Python API on real files: train a tiny model on a slice of
the bundled corpus, resume after an interruption, load it, translate, look at
attention, evaluate on the recorded test split; errors for bad input."""

import gzip
import json
import shutil

import keras
import numpy as np
import pytest

from keras_seq2seq.translate import (
    PipelineError,
    TrainingConfig,
    default_corpus_path,
    evaluate,
    load,
    load_split,
    read_pairs,
    train,
)

pytestmark = pytest.mark.usefixtures("jax_compilation_cache")

# Short sentences only (the corpus is ordered by length) and training pairs of
# at most 8 pieces: one batch shape, so each backend compiles little.
CORPUS_LINES = 1000
TINY = dict(
    epochs=1,
    vocab_size=300,
    max_length=8,
    batch_size=64,
    bleu_sentences=64,
    embedding_dim=8,
    encoder_units=8,
    decoder_units=16,
    encoder_layers=1,
)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    lines = gzip.decompress(default_corpus_path().read_bytes()).split(b"\n")
    path = tmp_path_factory.mktemp("corpus") / "pairs.txt"
    # Two malformed lines: skipped and reported, not fatal.
    path.write_bytes(b"\n".join(lines[:CORPUS_LINES] + [b"no tab", b"\tempty"]) + b"\n")
    return path


@pytest.fixture(scope="module")
def trained(corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "model"
    lines = []
    config = train(out, pairs=corpus_file, log=lines.append, **TINY)
    return out, config, lines


@pytest.fixture(scope="module")
def translator(trained):
    return load(trained[0])


def history(directory):
    return json.loads((directory / "history.json").read_text())["epochs"]


def test_train_writes_the_model_directory(trained, corpus_file):
    out, config, lines = trained
    for name in (
        "config.json",
        "history.json",
        "model.keras",
        "source.model",
        "target.model",
        "split.json",
        "valid.tsv",
        "test.tsv",
    ):
        assert (out / name).is_file(), name
    assert (out / "backup" / "latest.weights.h5").is_file()
    assert json.loads((out / "config.json").read_text()) == config
    assert config["backend"] == keras.backend.backend()
    assert config["versions"]["keras"] == keras.__version__
    assert config["model"]["encoder_units"] == 8
    assert config["model"]["parameters"] > 0
    assert config["tokenizers"]["source"]["vocab_size"] == 300
    assert config["data"]["skipped_lines"] == {"no_tab": 1, "empty_side": 1}
    assert config["data"]["split_seed"] == 0
    # config.json records the run's options: the configuration, serialised.
    assert config["options"] == TrainingConfig(pairs=corpus_file, **TINY).to_dict()
    training = config["training"]
    assert training["epochs_run"] == 1 and training["stopped"] == "epochs"
    assert training["status"] == "trained" and training["seconds"] > 0
    assert training["best_epoch"] == 1 and training["target_tokens_per_second"] > 0
    # XLA on JAX and TensorFlow (Keras' "auto" would leave it off on a
    # CPU-only TensorFlow), eager on torch.
    assert training["jit_compile"] == (keras.backend.backend() != "torch")
    (record,) = history(out)
    assert record["epoch"] == 1 and record["complete"]
    for key in ("loss", "val_loss", "val_bleu", "tokens_per_second", "target_tokens"):
        assert np.isfinite(record[key]), key
    log = "\n".join(lines)
    assert f"backend {keras.backend.backend()}" in log
    assert "2 lines skipped" in log and "target tokens/s" in log


def test_split_is_recorded_and_keeps_sources_apart(trained, corpus_file):
    out, config, _ = trained
    split = load_split(out, read_pairs(corpus_file))
    assert len(split.test) == config["data"]["sizes"]["test"] > 0
    assert not set(split.test.sources) & set(split.train.sources)
    assert not set(split.valid.sources) & set(split.train.sources)


def test_translate_and_attention(translator):
    outputs = translator.translate(["Go.", "", "I'm fine."])
    assert len(outputs) == 3 and outputs[1] == ""
    assert all(isinstance(text, str) for text in outputs)
    assert len(translator.translate(("Go.", "Hi."), beam=2)) == 2
    source, target, weights = translator.attention("I'm fine.")
    assert source == translator.source_tokenizer.id_to_piece(
        translator.source_tokenizer.encode(["I'm fine."])[0]
    )
    assert weights.shape == (len(target), len(source))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)


def test_evaluate_uses_the_recorded_test_split(trained, translator, tmp_path):
    out = trained[0]
    path = tmp_path / "scores.json"
    lines = []
    result = evaluate(translator, json_path=path, log=lines.append)
    assert json.loads(path.read_text()) == result
    test = load_split(out).test
    assert result["sentences"] == len(test)
    assert result["distinct_sources"] == len(set(test.sources))
    assert 0.0 <= result["bleu"] <= 100.0 and 0.0 <= result["chrf"] <= 100.0
    assert result["signature"].startswith("nrefs:1|") and result["beam"] == 1
    assert any(line.startswith("BLEU = ") for line in lines)


def test_evaluate_the_recorded_valid_split(trained, translator):
    result = evaluate(translator, split="valid", max_sentences=8, log=lambda _: None)
    assert result["pairs"] == "valid split" and result["sentences"] == 8
    with pytest.raises(PipelineError, match="`split` must be one of test, valid"):
        evaluate(translator, split="train")
    with pytest.raises(PipelineError, match="Give `pairs` or `split`, not both"):
        evaluate(translator, pairs=trained[0] / "test.tsv", split="test")


def test_evaluate_reads_recorded_split_files_in_the_models_direction(trained, tmp_path):
    """`valid.tsv` is written source first; a `--reverse` model must not
    reverse it again when it is given as `pairs`."""
    reversed_dir = tmp_path / "reversed"
    shutil.copytree(trained[0], reversed_dir)
    config = json.loads((reversed_dir / "config.json").read_text())
    config["data"]["reverse"] = True
    (reversed_dir / "config.json").write_text(json.dumps(config))
    translator = load(reversed_dir)
    quiet = dict(max_sentences=8, log=lambda _: None)
    recorded = evaluate(translator, split="valid", **quiet)
    as_pairs = evaluate(translator, pairs=reversed_dir / "valid.tsv", **quiet)
    assert as_pairs["pairs"] == "valid split"
    assert as_pairs["bleu"] == recorded["bleu"] and as_pairs["chrf"] == recorded["chrf"]
    # The same lines anywhere else are a corpus file: reversed as at training.
    elsewhere = tmp_path / "valid-copy.tsv"
    shutil.copy(reversed_dir / "valid.tsv", elsewhere)
    copied = evaluate(translator, pairs=elsewhere, **quiet)
    assert copied["pairs"] == str(elsewhere)
    sources = load_split(reversed_dir).valid.sources[:8]
    assert read_pairs(elsewhere, reverse=True).sources[:8] != sources


def test_resume_after_an_interruption(trained, corpus_file, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(trained[0], out)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            out,
            pairs=corpus_file,
            callbacks=[Interrupt()],
            log=[].append,
            **{**TINY, "epochs": 2},
        )
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["status"] == "interrupted"
    assert [r["epoch"] for r in history(out)] == [1]

    # Run options may change on resuming: epoch 2 trains with label smoothing
    # in bfloat16.
    lines = []
    more = {
        **TINY,
        "epochs": 2,
        "bleu_sentences": 0,
        "label_smoothing": 0.1,
        "dtype_policy": "mixed_bfloat16",
    }
    config = train(out, pairs=corpus_file, log=lines.append, **more)
    assert any("resuming after epoch 1" in line for line in lines)
    assert any(
        "label smoothing 0.1; dtype policy mixed_bfloat16;" in line for line in lines
    )
    assert [r["epoch"] for r in history(out)] == [1, 2]
    assert history(out)[0] == history(trained[0])[0]
    assert np.isfinite(history(out)[1]["loss"])
    assert config["training"]["epochs_run"] == 2
    assert config["options"]["label_smoothing"] == 0.1
    assert config["options"]["dtype_policy"] == "mixed_bfloat16"
    assert [run["status"] for run in config["training"]["runs"]] == [
        "trained",
        "interrupted",
        "trained",
    ]

    lines = []
    train(out, pairs=corpus_file, log=lines.append, **{**TINY, "epochs": 2})
    assert any("nothing to do" in line for line in lines)


def test_resume_refuses_other_options(trained, corpus_file, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(trained[0], out)
    with pytest.raises(
        PipelineError, match=r"other data or model options.*vocab_size 300 -> 100"
    ):
        train(out, pairs=corpus_file, log=[].append, **{**TINY, "vocab_size": 100})


def test_training_errors(corpus_file, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("no tab here\n\n")
    with pytest.raises(PipelineError, match="Empty or unusable corpus"):
        train(tmp_path / "a", pairs=empty, log=[].append, **TINY)
    with pytest.raises(PipelineError, match="No such corpus file"):
        train(tmp_path / "b", pairs=tmp_path / "missing.txt", log=[].append, **TINY)
    with pytest.raises(PipelineError, match="`epochs` must be an integer > 0"):
        train(tmp_path / "c", pairs=corpus_file, log=[].append, **{**TINY, "epochs": 0})
    with pytest.raises(
        PipelineError, match=r"`label_smoothing` must be a number in \[0, 1\)"
    ):
        train(
            tmp_path / "e",
            pairs=corpus_file,
            log=[].append,
            **{**TINY, "label_smoothing": 1},
        )
    with pytest.raises(
        PipelineError,
        match=r"`learning_rate_hold` must be a number in \[0, 1\)\. "
        "Received: learning_rate_hold=1.0",
    ):
        train(
            tmp_path / "g",
            pairs=corpus_file,
            log=[].append,
            **{**TINY, "learning_rate_hold": 1.0},
        )
    with pytest.raises(
        PipelineError,
        match=r"`dtype_policy` must be one of \('float32', 'mixed_bfloat16'\)\. "
        "Received: dtype_policy='float16'",
    ):
        train(
            tmp_path / "f",
            pairs=corpus_file,
            log=[].append,
            **{**TINY, "dtype_policy": "float16"},
        )
    with pytest.raises(PipelineError, match="rnn_type"):
        train(
            tmp_path / "d",
            pairs=corpus_file,
            log=[].append,
            **{**TINY, "rnn_type": "transformer"},
        )
    assert not (tmp_path / "a").exists()


def test_load_errors(trained, tmp_path):
    with pytest.raises(PipelineError, match="No model directory"):
        load(tmp_path / "missing")
    with pytest.raises(PipelineError, match="has no config.json"):
        load(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(trained[0], broken)
    (broken / "model.keras").write_bytes(b"not a zip file")
    with pytest.raises(PipelineError, match="model file .* is corrupt"):
        load(broken)
    (broken / "config.json").write_text("{ not json")
    with pytest.raises(PipelineError, match="not valid JSON"):
        load(broken)


def test_translate_errors(translator):
    with pytest.raises(PipelineError, match="`beam` must be a positive integer"):
        translator.translate(["Go."], beam=0)
    with pytest.raises(PipelineError, match="list of strings"):
        translator.translate("Go.")
    with pytest.raises(PipelineError, match="non-blank"):
        translator.attention("  ")
