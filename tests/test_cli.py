"""The `keras-seq2seq` command line, in process (`main([...])`) on real files:
train a tiny model, translate (arguments and stdin), evaluate with --json,
plot attention, continue training with a time budget; one-line errors."""

import contextlib
import gzip
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import pytest

from keras_seq2seq.cli import main
from keras_seq2seq.translate import callbacks, default_corpus_path, load_split

pytestmark = pytest.mark.usefixtures("jax_compilation_cache")

# The same tiny setup as tests/translate/test_pipeline.py (so JAX's
# compilation cache serves both): short sentences, one batch shape.
CORPUS_LINES = 1000
TINY = [
    "--vocab-size", "300",
    "--max-length", "8",
    "--batch-size", "64",
    "--bleu-sentences", "64",
    "--units", "8",
    "--decoder-units", "16",
    "--embedding-dim", "8",
    "--layers", "1",
]  # fmt: skip
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    lines = gzip.decompress(default_corpus_path().read_bytes()).split(b"\n")
    path = tmp_path_factory.mktemp("corpus") / "pairs.txt"
    path.write_bytes(b"\n".join(lines[:CORPUS_LINES]) + b"\n")
    return path


@pytest.fixture(scope="module")
def trained(corpus_file, tmp_path_factory):
    """`keras-seq2seq train ... --epochs 1`: (model directory, its log)."""
    out = tmp_path_factory.mktemp("cli") / "model"
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        status = main(
            ["train", "--pairs", str(corpus_file), "--out", str(out), "--epochs", "1"]
            + TINY
        )
    assert status == 0, log.getvalue()
    return out, log.getvalue()


def run(argv, capsys):
    """`main(argv)` -> (exit status, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_train(trained):
    out, log = trained
    assert f"backend {keras.backend.backend()}" in log
    assert "epoch 1/1" in log and "target tokens/s" in log and "val_bleu" in log
    assert f"best model: '{out / 'model.keras'}'" in log
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["epochs_run"] == 1
    assert config["model"]["encoder_units"] == 8
    assert config["model"]["decoder_units"] == 16


def test_translate_arguments_and_stdin(trained, capsys, monkeypatch):
    status, out, _ = run(
        ["translate", "--model", trained[0], "Go.", "I'm fine."], capsys
    )
    assert status == 0
    assert len(out.splitlines()) == 2 and out.endswith("\n")

    monkeypatch.setattr(sys, "stdin", io.StringIO("Go.\n\nI'm fine.\n"))
    status, out, _ = run(["translate", "--model", trained[0]], capsys)
    assert status == 0
    lines = out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""

    status, out, _ = run(
        ["translate", "--model", trained[0], "--beam", "2", "Go.", "I'm fine."], capsys
    )
    assert status == 0 and len(out.splitlines()) == 2


def test_translate_a_file_in_windows_in_input_order(trained, capsys, tmp_path):
    """--input/--output with batches of 2 (windows of 32 lines): the same
    translations, in the same order, as all lines at once; --scores adds
    each one's score; outputs cut by --max-output-length are counted."""
    from keras_seq2seq.cli import translate as command

    sentences = [f"{word}." for word in ("Go", "Run", "Hi", "Wait", "Stop")] * 8
    sentences[3] = ""
    (tmp_path / "in.txt").write_text("".join(f"{s}\n" for s in sentences))
    expected = run(["translate", "--model", trained[0], *sentences], capsys)[1]
    assert len(sentences) > 2 * command.WINDOW_BATCHES
    argv = ["translate", "--model", trained[0], "--input", tmp_path / "in.txt"]
    status, out, err = run(
        argv + ["--output", tmp_path / "out.txt", "--batch-size", "2"], capsys
    )
    assert status == 0 and out == ""
    assert (tmp_path / "out.txt").read_text() == expected

    status, out, _ = run(argv + ["--scores"], capsys)
    rows = [line.split("\t") for line in out.splitlines()]
    assert [text for _, text in rows] == expected.splitlines()
    assert all(float(score) <= 0 for score, _ in rows)
    assert float(rows[3][0]) == 0.0  # the blank line

    status, out, err = run(argv + ["--max-output-length", "1"], capsys)
    assert status == 0 and len(out.splitlines()) == len(sentences)
    # One piece is too few for all but the blank line (and any output that
    # is `eos` alone).
    cut = re.search(r"(\d+) of (\d+) outputs reached the output length", err)
    assert cut and 0 < int(cut[1]) < len(sentences) == int(cut[2])
    status, _, err = run(argv + ["Go."], capsys)
    assert status == 1 and "not both" in error_line(err)


def test_translate_n_best(trained, capsys):
    sentences = ["Go.", "", "I'm fine."]
    argv = ["translate", "--model", trained[0], "--beam", "3", *sentences]
    best = run(argv, capsys)[1].splitlines()
    status, out, _ = run(argv + ["--n-best", "3"], capsys)
    assert status == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [(int(i), int(rank)) for i, rank, _, _ in rows] == [
        (i, rank) for i in range(3) for rank in (1, 2, 3)
    ]
    for i in range(3):
        found = rows[3 * i : 3 * i + 3]
        assert found[0][3] == best[i]
        scores = [float(score) for _, _, score, _ in found]
        assert scores == sorted(scores, reverse=True)
    status, _, err = run(argv[:3] + ["--n-best", "2", "Go."], capsys)
    assert status == 1 and "`n_best` must be at most `beam`" in error_line(err)


def test_evaluate_json(trained, capsys, tmp_path):
    path = tmp_path / "scores.json"
    status, out, _ = run(["evaluate", "--model", trained[0], "--json", path], capsys)
    assert status == 0
    result = json.loads(path.read_text())
    assert {"bleu", "chrf", "signature", "sentences", "beam"} <= set(result)
    assert result["sentences"] == len(load_split(trained[0]).test)
    assert result["pairs"] == "test split" and result["beam"] == 1
    assert "BLEU = " in out and f"signature: {result['signature']}" in out
    assert "chrF2 = " in out


def test_evaluate_pairs_file(trained, capsys, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    shutil.copy(trained[0] / "valid.tsv", pairs)
    status, out, _ = run(
        ["evaluate", "--model", trained[0], "--pairs", pairs, "--max-sentences", "5"],
        capsys,
    )
    assert status == 0 and "5 pairs" in out


def test_evaluate_valid_split(trained, capsys):
    status, out, _ = run(
        ["evaluate", "--model", trained[0], "--split", "valid", "--max-sentences", "5"],
        capsys,
    )
    assert status == 0 and "the valid split recorded in" in out and "5 pairs" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", str(trained[0]), "--split", "train"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "m", "--split", "test", "--pairs", "p.txt"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_attention_png(trained, capsys, tmp_path):
    path = tmp_path / "attention.png"
    status, out, err = run(
        ["attention", "--model", trained[0], "--out", path, "I'm", "fine."], capsys
    )
    assert status == 0
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert len(out.splitlines()) == 1
    assert str(path) in err


def test_translate_sample(trained, capsys):
    arguments = ["translate", "--model", trained[0], "--sample", "--temperature", "2"]
    sentences = ["I am happy.", "Where is the cat?"]
    first = run([*arguments, "--seed", "11", *sentences], capsys)
    again = run([*arguments, "--seed", "11", *sentences], capsys)
    assert first[0] == again[0] == 0
    assert first[1] == again[1] and len(first[1].splitlines()) == 2
    status, out, err = run([*arguments, "--n-best", "3", *sentences], capsys)
    assert status == 0 and "sampling with --seed" in err
    ranks = [line.split("\t")[:2] for line in out.splitlines()]
    assert ranks == [[str(i), str(r)] for i in range(2) for r in range(1, 4)]
    status, _, err = run(
        ["translate", "--model", trained[0], "--top-k", "5", "Hi."], capsys
    )
    assert status == 1
    assert "sampling options (--top-k) need --sample" in error_line(err)


def test_export(trained, capsys, tmp_path):
    out_dir = tmp_path / "export"
    arguments = ["export", "--model", trained[0], "--out", out_dir, "--beam", "2"]
    status, _, err = run([*arguments, "--max-output-length", "20"], capsys)
    assert status == 0
    assert str(out_dir) in err
    assert (out_dir / "saved_model.pb").is_file()
    decoding = json.loads((out_dir / "export.json").read_text())["decoding"]
    assert (decoding["beam"], decoding["max_output_length"]) == (2, 20)
    status, _, err = run(arguments, capsys)
    assert status == 1
    assert "must be a new or empty directory" in error_line(err)


def test_serve(trained):
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    arguments = ["serve", "--model", trained[0], "--port", port, "--max-sentences", 1]
    server = subprocess.Popen(
        [sys.executable, "-m", "keras_seq2seq.cli", *map(str, arguments)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
    )
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            assert server.poll() is None, server.stderr.read()
            time.sleep(0.5)
        answer = httpx.post(f"{url}/translate", json={"text": ["Hi."]}, timeout=60)
        assert answer.status_code == 200
        assert len(answer.json()["translations"]) == 1
        refused = httpx.post(f"{url}/translate", json={"text": ["Hi.", "Go."]})
        assert refused.status_code == 422
        assert "too many sentences: at most 1" in refused.json()["error"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_continue_training_with_a_time_budget(
    trained, corpus_file, capsys, tmp_path, monkeypatch
):
    schedules = []

    class RecordedSchedule(callbacks.TimeAnnealedLearningRate):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            schedules.append(self)

    monkeypatch.setattr(callbacks, "TimeAnnealedLearningRate", RecordedSchedule)
    out = tmp_path / "model"
    shutil.copytree(trained[0], out)
    command = ["train", "--pairs", corpus_file, "--out", out] + TINY
    budget = ["--epochs", "3", "--max-minutes", "0.0001", "--bleu-sentences", "0"]
    options = ["--dtype-policy", "mixed_bfloat16", "--lr-hold", "0.25"]
    status, _, err = run(command + budget + options, capsys)
    assert status == 0, err
    assert "resuming after epoch 1" in err
    assert "rate held for 25% of the minutes;" in err
    assert [(s.seconds, s.hold) for s in schedules] == [(pytest.approx(0.006), 0.25)]
    assert "dtype policy mixed_bfloat16;" in err
    assert "stopped after 1/" in err and "time budget spent" in err
    records = json.loads((out / "history.json").read_text())["epochs"]
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[0]["complete"] and not records[1]["complete"]
    assert records[1]["batches"] == 1
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["stopped"] == "time_budget"
    assert config["options"]["dtype_policy"] == "mixed_bfloat16"
    assert config["options"]["learning_rate_hold"] == 0.25
    assert config["training"]["epochs_run"] == 2

    status, _, err = run(command + ["--epochs", "2"], capsys)
    assert status == 0 and "nothing to do" in err


def error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-seq2seq: error: ")
    return lines[0]


def test_missing_model_directory(capsys, tmp_path):
    status, out, err = run(["translate", "--model", tmp_path / "nope", "Hi."], capsys)
    assert status == 1 and out == ""
    assert "No model directory" in error_line(err)


def test_corrupt_model_directory(trained, capsys, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained[0], broken)
    (broken / "config.json").write_text('{"format": 1, "model": {}}')
    status, _, err = run(["evaluate", "--model", broken], capsys)
    assert status == 1 and "is corrupt" in error_line(err)
    (broken / "config.json").write_text("{")
    status, _, err = run(
        ["attention", "--model", broken, "--out", tmp_path / "a.png", "Hi."], capsys
    )
    assert status == 1 and "not valid JSON" in error_line(err)


def test_empty_corpus(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    status, _, err = run(["train", "--pairs", empty, "--out", tmp_path / "m"], capsys)
    assert status == 1 and "Empty or unusable corpus" in error_line(err)


def test_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--model", str(tmp_path), "--beam", "0", "Hi."])
    assert exit_info.value.code == 2
    assert "--beam: expected a positive integer, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["train", "--out", str(tmp_path), "--batch-size", "8", "--max-tokens", "9"]
        )
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path), "--dtype-policy", "float16"])
    assert exit_info.value.code == 2
    assert "--dtype-policy: invalid choice: 'float16'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path), "--lr-hold", "1"])
    assert exit_info.value.code == 2
    assert "--lr-hold: expected a number in [0, 1), got '1'" in capsys.readouterr().err


def test_info_and_help(capsys):
    assert main(["info"]) == 0
    assert f"backend {keras.backend.backend()}" in capsys.readouterr().out
    assert main([]) == 0
    help_text = capsys.readouterr().out
    commands = ("train", "translate", "evaluate", "attention", "export", "demo")
    for command in commands:
        assert command in help_text


def command(arguments, tmp_path, keras_json=None, **environment):
    """`python -m keras_seq2seq.cli ...` in a fresh process, no
    `KERAS_BACKEND` unless given, `KERAS_HOME` in `tmp_path` (holding
    `keras_json` if given): the completed process."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(environment, XDG_CACHE_HOME=str(tmp_path), KERAS_HOME=str(tmp_path))
    if keras_json is not None:
        (tmp_path / "keras.json").write_text(json.dumps(keras_json))
    return subprocess.run(
        [sys.executable, "-m", "keras_seq2seq.cli", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="independent of the backend: run once"
)
def test_the_command_chooses_the_backend_as_keras_does(tmp_path):
    """KERAS_BACKEND, else keras.json, else JAX; `info` and `--help` write
    nothing on stderr (no backend log lines)."""
    for keras_json, environment, expected in (
        (None, {}, "jax"),
        ({"backend": "torch"}, {}, "torch"),
        ({"backend": "torch"}, {"KERAS_BACKEND": "tensorflow"}, "tensorflow"),
    ):
        result = command(["info"], tmp_path, keras_json, **environment)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert f"backend {expected}" in result.stdout
    result = command(["--help"], tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert "train" in result.stdout


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="independent of the backend: run once"
)
def test_an_unknown_backend_is_one_line(tmp_path):
    result = command(["info"], tmp_path, KERAS_BACKEND="mxnet")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "keras-seq2seq: error: unknown Keras backend 'mxnet' (from KERAS_BACKEND); "
        "expected one of jax, tensorflow, torch"
    ]
    result = command(["info"], tmp_path, keras_json={"backend": "mxnet"})
    assert result.returncode == 1 and "(from keras.json)" in result.stderr


def test_a_trained_model_loads_in_a_fresh_process(trained, tmp_path):
    """`import keras_seq2seq` imports neither Keras nor the tfa namespace,
    and is enough for `keras.models.load_model` of a translator; Keras then
    registers the classes without importing TensorFlow off its backend
    (building a `Bidirectional` layer does import it, in Keras)."""
    backend = keras.backend.backend()
    script = f"""
import sys
import keras_seq2seq
assert "keras" not in sys.modules, "keras imported"
assert "keras_seq2seq.seq2seq" not in sys.modules, "the tfa namespace imported"
import keras
assert ({backend!r} == "tensorflow") == ("tensorflow" in sys.modules)
model = keras.models.load_model({str(trained[0] / "model.keras")!r})
print(type(model).__name__, model.count_params())
"""
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((trained[0] / "config.json").read_text())
    assert result.stdout.split() == ["Translator", str(config["model"]["parameters"])]


def test_train_data_parallel(corpus_file, capsys, tmp_path):
    """`--distribute data` on this process's devices (one here; the
    multi-device runs are in tests/translate/test_distribute.py); torch has
    no `keras.distribution` engine and says so in one line."""
    argv = ["train", "--pairs", corpus_file, "--out", tmp_path / "dp", "--epochs", "1"]
    status, out, err = run(argv + ["--distribute", "data"] + TINY, capsys)
    if keras.backend.backend() == "torch":
        assert status == 1 and "no keras.distribution support" in error_line(err)
    else:
        assert status == 0, err
        assert json.loads((tmp_path / "dp" / "config.json").read_text())
