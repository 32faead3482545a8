"""Export: a translator trained on this backend, exported as a SavedModel and
run in a process that can import neither keras_seq2seq, JAX nor torch, gives
the same translations as `TrainedTranslator.translate`."""

import json
import os
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from keras_seq2seq.translate import PipelineError, load
from keras_seq2seq.translate.export import EXPORT_INFO_FILE, export_translator

pytestmark = pytest.mark.usefixtures("jax_compilation_cache")

# Sentences of every export width (8, 16 and over 64 pieces), a blank one and
# spacing that normalisation collapses.
EXTRA = ["", "Hello\u00a0  world !", " ".join(["I ran to the big station."] * 14)]

# Runs in the serving process: loads the export, translates, prints JSON.
SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
sentences = tf.constant(json.loads(sys.argv[2]))
out = model.signatures["serving_default"](sentences)
attention = model.signatures["attention"](sentences[:2])
banned = sorted({m.split(".")[0] for m in sys.modules} & {"keras_seq2seq", "jax", "torch"})
print(json.dumps({
    "translations": [t.decode() for t in out["translations"].numpy()],
    "scores": out["scores"].numpy().tolist(),
    "target_pieces": [[p.decode() for p in r] for r in attention["target_pieces"].numpy()],
    "source_pieces": [[p.decode() for p in r] for r in attention["source_pieces"].numpy()],
    "weights": attention["weights"].numpy().tolist(),
    "banned_modules": banned,
}))
"""


@pytest.fixture(scope="module")
def trained(tiny_translator):
    directory, sentences = tiny_translator
    return directory, sentences[:24] + EXTRA


@pytest.fixture(scope="module")
def serving_site(tmp_path_factory):
    """A site directory holding this environment's packages except
    keras_seq2seq, JAX and torch: tensorflow, tensorflow-text and theirs."""
    site = tmp_path_factory.mktemp("serving-site")
    for entry in os.scandir(sysconfig.get_paths()["purelib"]):
        name = entry.name.lower()
        banned = ("keras_seq2seq", "jax", "torch", "__editable__")
        if not name.startswith(banned) and not name.endswith(".pth"):
            os.symlink(entry.path, site / entry.name)
    return site


def serve(export_dir, sentences, site):
    """Runs the export in a fresh `python -S` whose only packages are `site`'s."""
    code = f"import sys; sys.path.append({str(site)!r}); exec({SERVE!r})"
    # Keras comes with TensorFlow (tensorflow-text imports `tf.keras`): there
    # it can only run on TensorFlow.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    env["KERAS_BACKEND"] = "tensorflow"
    done = subprocess.run(
        [sys.executable, "-S", "-c", code, str(export_dir), json.dumps(sentences)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "beam, length_penalty", [(1, 0.0), (3, 0.6)], ids=["greedy", "beam3"]
)
def test_export_translates_as_translate(
    trained, serving_site, tmp_path, beam, length_penalty
):
    directory, sentences = trained
    export_dir = export_translator(
        directory, tmp_path / "export", beam=beam, length_penalty=length_penalty
    )
    got = serve(export_dir, sentences, serving_site)
    assert got["banned_modules"] == []
    translator = load(directory)
    want = translator.translate(sentences, beam=beam, length_penalty=length_penalty)
    assert got["translations"] == want
    assert got["scores"][sentences.index("")] == 0.0
    assert all(s < 0 for s, text in zip(got["scores"], sentences) if text)
    for row in range(2):
        expected = translator.attention(
            sentences[row], beam=beam, length_penalty=length_penalty
        )
        steps, width = len(expected.target_tokens), len(expected.source_tokens)
        assert got["target_pieces"][row][:steps] == expected.target_tokens
        assert got["source_pieces"][row][:width] == expected.source_tokens
        weights = np.array(got["weights"][row])[:steps, :width]
        np.testing.assert_allclose(weights, expected.weights, atol=1e-5)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    check_export_info(export_dir, directory, beam, length_penalty)


def check_export_info(export_dir, directory, beam, length_penalty):
    info = json.loads((export_dir / EXPORT_INFO_FILE).read_text())
    assert info["decoding"]["beam"] == beam
    assert info["decoding"]["length_penalty"] == length_penalty
    assert info["signatures"] == ["serving_default", "attention"]
    assert info["model"]["source_vocab_size"] == 300
    assert set(info["versions"]) == {"keras_seq2seq", "keras", "tensorflow"}
    for name in ("source.model", "target.model"):
        assert (export_dir / name).read_bytes() == (directory / name).read_bytes()
    assert (export_dir / "saved_model.pb").is_file()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"beam": 0}, "`beam` must be a positive integer. Received: beam=0"),
        ({"max_output_length": 2.5}, "Received: max_output_length=2.5"),
    ],
)
def test_export_bad_options(trained, tmp_path, options, message):
    with pytest.raises(PipelineError, match=message):
        export_translator(trained[0], tmp_path / "export", **options)


def test_export_refuses_a_directory_with_files(trained, tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "keep.txt").write_text("mine")
    with pytest.raises(PipelineError, match="must be a new or empty directory"):
        export_translator(trained[0], tmp_path / "export")
    assert (tmp_path / "export" / "keep.txt").read_text() == "mine"
