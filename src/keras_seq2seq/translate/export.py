"""Exporting a trained translator as a TensorFlow SavedModel that needs only
`tensorflow` and `tensorflow-text` to run: text in, text out.

The SavedModel holds the SentencePiece models (tensorflow-text's
`SentencepieceTokenizer` op), the text normalisation, the encoder and the
whole decode loop (greedy or beam search with the GNMT length penalty), all
as TensorFlow graph ops. It is built on Keras' TensorFlow backend (the
weights in `model.keras` are backend-neutral): from another backend,
`export_translator` runs itself in a subprocess with
`KERAS_BACKEND=tensorflow`.

Signatures:
- `serving_default(sentences: string[batch]) -> {translations: string[batch],
  scores: float32[batch]}`;
- `attention(sentences: string[batch]) -> {source_pieces: string[batch, S],
  target_pieces: string[batch, T], weights: float32[batch, T, S]}` (pieces
  padded with "").

Beside it, `export.json` records the decoding settings, the model's data and
tokenizers, and the versions; `source.model` and `target.model` are the
vocabularies.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import keras

from keras_seq2seq.translate import model_dir
from keras_seq2seq.translate.errors import PipelineError
from keras_seq2seq.translate.inference import (
    MAX_OUTPUT_LENGTH,
    MIN_WIDTH,
    check_positive,
    default_max_length,
    load,
)
from keras_seq2seq.translate.tokenizer import BOS_ID, EOS_ID, PAD_ID

EXPORT_INFO_FILE = "export.json"
# Padded source widths with their own decode loop, as `translate` batches
# them: the same widths give the same output limit and the same tokens.
# Longer sources share one loop whose limit is `MAX_OUTPUT_LENGTH`.
EXPORT_WIDTHS = (MIN_WIDTH, 2 * MIN_WIDTH, 4 * MIN_WIDTH, 8 * MIN_WIDTH)


def export_translator(
    directory,
    out_dir,
    beam=1,
    length_penalty=0.0,
    max_output_length=None,
):
    """Writes a SavedModel of the translator in `directory` to `out_dir`.

    Args:
        directory: a model directory written by `train`.
        out_dir: the export directory (must not exist, or be empty).
        beam: 1 for greedy decoding, else the beam width.
        length_penalty: GNMT length penalty alpha of beam search.
        max_output_length: the most output pieces; default as `translate`:
            `2 * padded source pieces + 10`, at most `MAX_OUTPUT_LENGTH`.

    Returns:
        The path of `out_dir`.

    Example (not run here: it builds a TensorFlow graph):
        export_translator("runs/eng-fra", "exports/eng-fra", beam=5)
        # then, with only tensorflow and tensorflow-text installed:
        # tf.saved_model.load("exports/eng-fra").signatures["serving_default"](
        #     tf.constant(["Hello."]))["translations"]
    """
    beam = check_positive("beam", beam)
    if max_output_length is not None:
        max_output_length = check_positive("max_output_length", max_output_length)
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise PipelineError(
            f"`out_dir` must be a new or empty directory. Received: '{out_dir}'"
        )
    settings = {
        "beam": beam,
        "length_penalty": float(length_penalty),
        "max_output_length": max_output_length,
    }
    if keras.backend.backend() != "tensorflow":
        _export_in_subprocess(directory, out_dir, settings)
    else:
        _export(directory, out_dir, settings)
    return out_dir


def _export_in_subprocess(directory, out_dir, settings):
    code = (
        "import sys, json; from keras_seq2seq.translate.export import _export; "
        "_export(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))"
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, "-c", code, str(directory), str(out_dir)]
    done = subprocess.run(
        [*command, json.dumps(settings)], env=env, capture_output=True, text=True
    )
    if done.returncode:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        raise PipelineError(f"Export on the TensorFlow backend failed: {lines[-1]}")


def _export(directory, out_dir, settings):
    """Builds and saves the SavedModel (on the TensorFlow backend)."""
    from keras_seq2seq.backend import saved_model

    out_dir = pathlib.Path(out_dir)
    translator = load(directory)
    limit = settings["max_output_length"]
    saved_model.save_translator(
        translator.model,
        translator.source_tokenizer.model_proto,
        translator.target_tokenizer.model_proto,
        out_dir,
        beam=settings["beam"],
        length_penalty=settings["length_penalty"],
        widths={w: limit or default_max_length(w) for w in EXPORT_WIDTHS},
        longer_limit=limit or MAX_OUTPUT_LENGTH,
        special_ids=(PAD_ID, BOS_ID, EOS_ID),
    )
    for name in (model_dir.SOURCE_TOKENIZER, model_dir.TARGET_TOKENIZER):
        shutil.copy(pathlib.Path(directory) / f"{name}.model", out_dir)
    model_dir.write_json(
        out_dir / EXPORT_INFO_FILE, _export_info(translator, settings, directory)
    )


def _export_info(translator, settings, directory):
    import keras_seq2seq
    from keras_seq2seq.backend import saved_model

    config = translator.config
    return {
        "decoding": {
            **settings,
            "max_output_length": settings["max_output_length"]
            or f"2 * padded source pieces + 10, at most {MAX_OUTPUT_LENGTH}",
        },
        "model": config.get("model", {}),
        "data": {key: config.get("data", {}).get(key) for key in ("pairs", "reverse")},
        "tokenizers": {
            "source": f"{model_dir.SOURCE_TOKENIZER}.model",
            "target": f"{model_dir.TARGET_TOKENIZER}.model",
        },
        "trained_model": str(pathlib.Path(directory).resolve()),
        "signatures": ["serving_default", "attention"],
        "versions": {
            "keras_seq2seq": keras_seq2seq.__version__,
            "keras": keras.__version__,
            "tensorflow": saved_model.tensorflow_version(),
        },
    }
