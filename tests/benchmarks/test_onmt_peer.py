"""The OpenNMT-py peer's own parts (benchmarks/peers/opennmt_rnn.py): the data
it exports, the configuration it writes, how it reads training logs and picks
a checkpoint. None of them needs OpenNMT-py's environment; the peer does not
use Keras, so these tests behave the same under every KERAS_BACKEND."""

import math
import time
import zipfile

import pytest
from conftest import load_benchmark

from keras_seq2seq.translate.corpus import read_pairs
from keras_seq2seq.translate.split import split_corpus

peer = load_benchmark("peers/opennmt_rnn.py")


ANIMALS = (("cat", "chat"), ("dog", "chien"), ("bird", "oiseau"), ("horse", "cheval"))
VERBS = (("sleeps", "dort"), ("eats", "mange"), ("runs", "court"))


@pytest.fixture
def corpus(tmp_path):
    """120 pairs; the source of every tenth pair is long."""
    lines = []
    for i in range(120):
        (animal, animal_fr), (verb, verb_fr) = ANIMALS[i % 4], VERBS[i % 3]
        source = f"The {animal} number {i} {verb}."
        if i % 10 == 0:
            source += " It sleeps all day and all night on the old red sofa."
        lines.append(f"{source}\tLe {animal_fr} numéro {i} {verb_fr}.\n")
    path = tmp_path / "pairs.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return read_pairs(path)


def fake_tool(venv, name, body):
    """An executable shell script `venv/bin/name` running `body`."""
    tool = venv / "bin" / name
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_text(f"#!/bin/sh\n{body}\n")
    tool.chmod(0o755)


def test_export_writes_the_pipeline_split_as_pieces(corpus, tmp_path):
    directory = tmp_path / "data"
    split, tokenizers, sizes = peer.export_data(directory, corpus, 3, 44, 64)

    expected = split_corpus(corpus, seed=3)
    assert split == expected
    assert sizes == {
        "train": len(expected.train),
        "valid": len(expected.valid),
        "test": len(expected.test),
        "train_kept": len(expected.train),
    }
    sources = (directory / "src-train.txt").read_text("utf-8").splitlines()
    targets = (directory / "tgt-train.txt").read_text("utf-8").splitlines()
    assert peer.detokenize(tokenizers[0], sources) == list(expected.train.sources)
    assert peer.detokenize(tokenizers[1], targets) == list(expected.train.targets)
    assert sources[0].split() == tokenizers[0].id_to_piece(
        tokenizers[0].encode([expected.train.sources[0]])[0]
    )
    for name in ("split.json", "test.tsv", "source.model", "target.model"):
        assert (directory / name).is_file()


def test_export_leaves_out_long_training_pairs(corpus, tmp_path):
    directory = tmp_path / "data"
    split, tokenizers, sizes = peer.export_data(directory, corpus, 0, 44, 30)

    lengths = [len(ids) for ids in tokenizers[0].encode(list(split.train.sources))]
    assert max(lengths) > 30 >= min(lengths)
    kept = sum(length <= 30 for length in lengths)
    assert sizes["train_kept"] == kept < sizes["train"]
    sources = (directory / "src-train.txt").read_text("utf-8").splitlines()
    assert len(sources) == kept
    assert all(len(line.split()) <= 30 for line in sources)


def test_detokenize_maps_unknown_pieces_to_the_unknown_piece(corpus, tmp_path):
    _, tokenizers, _ = peer.export_data(tmp_path, corpus, 0, 44, 64)
    pieces = " ".join(peer.to_pieces(tokenizers[1], ["Le chat dort."])[0])
    assert peer.detokenize(tokenizers[1], [pieces, f"{pieces} <unk>", ""]) == [
        "Le chat dort.",
        "Le chat dort. ⁇",
        "",
    ]


def test_translate_scores_every_pair_from_the_distinct_sources(tmp_path):
    """A stand-in `onmt_translate` copies its input: on a corpus whose two
    sides are equal, the peer must score 100 over every test pair."""
    lines = [
        f"Sentence {i % 30} is here.\tSentence {i % 30} is here.\n" for i in range(90)
    ]
    (tmp_path / "pairs.txt").write_text("".join(lines), encoding="utf-8")
    split, tokenizers, _ = peer.export_data(
        tmp_path / "data", read_pairs(tmp_path / "pairs.txt"), 0, 26, 64
    )
    fake_tool(
        tmp_path / "venv",
        "onmt_translate",
        'while [ $# -gt 0 ]; do case "$1" in -src) src=$2;; -output) out=$2;; esac; '
        'shift; done\ncp "$src" "$out"; echo "Total translation time (s): 2.0"',
    )
    test = split.test.subset(range(len(split.test) - 1))
    result = peer.translate(
        tmp_path / "venv", "ckpt.pt", tmp_path, 5, {}, tokenizers, test
    )
    distinct = len(set(test.sources))
    assert distinct < len(test)
    assert result["bleu"] == pytest.approx(100.0)
    assert result["chrf"] == pytest.approx(100.0)
    assert (result["sentences"], result["distinct_sources"]) == (len(test), distinct)
    assert result["seconds"] == 2.0
    assert result["sentences_per_s"] == distinct / 2.0
    hypotheses = (tmp_path / "test.beam5.txt").read_text("utf-8").splitlines()
    assert hypotheses == list(dict.fromkeys(test.sources))


def test_training_is_stopped_at_the_budget_with_its_last_checkpoint(tmp_path):
    """A stand-in `onmt_train` saves one checkpoint, reports, then would run on."""
    with zipfile.ZipFile(tmp_path / "saved.pt", "w") as archive:
        archive.writestr("data.pkl", b"weights")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    report = "Step 10/10000000; acc: 1.0; 900/1000 tok/s;      4 sec;"
    fake_tool(
        tmp_path / "venv",
        "onmt_train",
        f"cp {tmp_path / 'saved.pt'} {run_dir / 'model_step_10.pt'}\n"
        f'echo "{report}" > {run_dir / "train.log"}\nsleep 60',
    )
    start = time.monotonic()
    result = peer.train_for(tmp_path / "venv", "c.yaml", run_dir, 2, {})
    assert time.monotonic() - start < 30
    assert result["stopped"] and result["step"] == 10
    assert result["checkpoint"] == str(run_dir / "model_step_10.pt")
    assert result["target_tokens_per_s"] == 1000.0
    assert 0 <= result["seconds"] <= result["wall_seconds"] < 30


def test_training_that_fails_is_reported(tmp_path):
    fake_tool(tmp_path / "venv", "onmt_train", "echo 'bad option' && exit 3")
    with pytest.raises(RuntimeError, match="failed \\(3\\)(.|\\n)*bad option"):
        peer.train_for(tmp_path / "venv", "c.yaml", tmp_path, 20, {})


def noam(config, step):
    """OpenNMT-py's noam learning rate at `step` for `config`."""
    return (
        config["learning_rate"]
        * config["hidden_size"] ** -0.5
        * min(step**-0.5, step * config["warmup_steps"] ** -1.5)
    )


@pytest.mark.parametrize("arch", peer.ARCHS)
def test_config_peaks_at_the_learning_rate_after_warmup(arch):
    config = peer.onmt_config(arch, "/d", "/r", 7, 2e-3, 500, 50)
    assert math.isclose(noam(config, 500), 2e-3)
    assert math.isclose(noam(config, 250), 1e-3)
    assert math.isclose(noam(config, 2000), 1e-3)
    assert config["data"]["corpus_1"] == {
        "path_src": "/d/src-train.txt",
        "path_tgt": "/d/tgt-train.txt",
    }
    assert config["save_model"] == "/r/model"
    assert (config["batch_type"], config["batch_size"]) == ("tokens", 2048)
    assert config["label_smoothing"] == 0.1
    assert config["save_checkpoint_steps"] == 50
    assert config["seed"] == 7


def test_rnn_config_is_the_bidirectional_gru_with_mlp_attention():
    config = peer.onmt_config("rnn", "d", "r", 0, 2e-3, 500, 50)
    # A bidirectional encoder of 2 x 256 units feeding a 512-unit decoder.
    names = ("encoder_type", "rnn_type", "layers", "hidden_size", "word_vec_size")
    assert [config[name] for name in names] == ["brnn", "GRU", 1, 512, 256]
    assert (config["global_attention"], config["input_feed"]) == ("mlp", 1)


def test_config_rejects_an_unknown_arch():
    with pytest.raises(ValueError, match="arch='lstm'"):
        peer.onmt_config("lstm", "d", "r", 0, 2e-3, 500, 50)


def test_to_yaml_writes_nested_mappings_and_json_scalars():
    config = peer.onmt_config("rnn", "/d", "/r", 0, 2e-3, 500, 50)
    text = peer.to_yaml(config)
    assert '  corpus_1:\n    path_src: "/d/src-train.txt"\n' in text
    assert "\noverwrite: true\n" in text
    assert '\nrnn_type: "GRU"\n' in text
    assert peer.to_yaml({"a": {"b": [0.1], "c": 'say "hi"'}}) == (
        'a:\n  b: [0.1]\n  c: "say \\"hi\\""\n'
    )


def test_training_speed_is_weighted_by_report_interval():
    log = "\n".join(
        f"[2026-01-01 INFO] Step {step}/10000000; acc: 10.0; ppl: 99.0; xent: 4.6; "
        f"lr: 0.00020; sents: 900; bsz: 300/320/30; {src}/{tgt} tok/s; {sec:6d} sec;"
        for step, src, tgt, sec in ((10, 900, 1000, 10), (20, 2500, 3000, 40))
    )
    reports = peer.parse_reports(log + "\n[INFO] Saving checkpoint r/model_step_20.pt")
    assert reports == [(10, 1000.0, 10), (20, 3000.0, 40)]
    assert peer.target_tokens_per_second(reports, 20) == (1000 * 10 + 3000 * 30) / 40
    assert peer.target_tokens_per_second(reports, 15) == 1000.0
    assert math.isnan(peer.target_tokens_per_second(reports, 5))


def test_newest_checkpoint_skips_one_cut_short(tmp_path):
    assert peer.newest_checkpoint(tmp_path) is None
    for step in (10, 20, 30):
        with zipfile.ZipFile(tmp_path / f"model_step_{step}.pt", "w") as archive:
            archive.writestr("data.pkl", b"x" * 1000)
    whole = (tmp_path / "model_step_30.pt").read_bytes()
    (tmp_path / "model_step_30.pt").write_bytes(whole[: len(whole) // 2])
    assert peer.newest_checkpoint(tmp_path) == (20, tmp_path / "model_step_20.pt")
