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
    default_max_length,
    load,
)
from keras_seq2seq.translate.tokenizer import BOS_ID, EOS_ID, PAD_ID

EXPORT_INFO_FILE = "export.json"
# Padded source widths with their own decode loop, as `translate` batches
# them: the same widths give the same output limit and the same tokens.
# Longer sources share one loop whose limit is `MAX_OUTPUT_LENGTH`.
EXPORT_WIDTHS = (MIN_WIDTH, 2 * MIN_WIDTH, 4 * MIN_WIDTH, 8 * MIN_WIDTH)
# Python's `str.split()` whitespace, which `normalize_text` collapses.
_WHITESPACE = r"[\s\x{1c}-\x{1f}\x{85}\p{Z}]+"


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
    beam = _check_positive("beam", beam)
    if max_output_length is not None:
        max_output_length = _check_positive("max_output_length", max_output_length)
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


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PipelineError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return value


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
    import tensorflow as tf

    try:
        import tensorflow_text  # noqa: F401 (registers the SentencePiece ops)
    except ImportError as error:
        raise PipelineError(
            "Export needs tensorflow-text: pip install --no-deps tensorflow-text"
        ) from error
    translator = load(directory)
    module = _ServingModule(translator, settings)
    out_dir = pathlib.Path(out_dir)
    tf.saved_model.save(
        module,
        str(out_dir),
        signatures={
            "serving_default": module.translate.get_concrete_function(),
            "attention": module.attention.get_concrete_function(),
        },
    )
    for name in (model_dir.SOURCE_TOKENIZER, model_dir.TARGET_TOKENIZER):
        shutil.copy(pathlib.Path(directory) / f"{name}.model", out_dir)
    model_dir.write_json(
        out_dir / EXPORT_INFO_FILE, _export_info(translator, settings, directory)
    )


def _export_info(translator, settings, directory):
    import keras_seq2seq

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
            "tensorflow": __import__("tensorflow").__version__,
        },
    }


def _serving_module_class():
    import tensorflow as tf
    import tensorflow_text as text

    class ServingModule(tf.Module):
        def __init__(self, translator, settings):
            super().__init__()
            self.model = translator.model
            self.weights = [v.value for v in translator.model.weights]
            # Distinct names: a loaded SavedModel keys each SentencePiece
            # model resource by its op's name, and would give both sides one.
            self.source = text.SentencepieceTokenizer(
                translator.source_tokenizer.model_proto, name="source_tokenizer"
            )
            self.target = text.SentencepieceTokenizer(
                translator.target_tokenizer.model_proto, name="target_tokenizer"
            )
            self.settings = settings
            spec = tf.TensorSpec([None], tf.string, name="sentences")
            self.translate = tf.function(self._translate, input_signature=[spec])
            self.attention = tf.function(self._attention, input_signature=[spec])

        def _encode(self, sentences):
            normalized = text.normalize_utf8(sentences, "NFKC")
            normalized = tf.strings.regex_replace(normalized, _WHITESPACE, " ")
            normalized = tf.strings.strip(normalized)
            ids = tf.cast(self.source.tokenize(normalized), tf.int32)
            return ids, ids.row_lengths()

        def _decode(self, ids, lengths):
            """Decodes the sentences of each padded width together, with that
            width's output limit, as `translate` batches them."""
            limits = tf.constant(EXPORT_WIDTHS, tf.int64)
            bucket = tf.reduce_sum(
                tf.cast(lengths[:, None] > limits[None, :], tf.int32), axis=1
            )
            parts, rows = [], []
            for index, width in enumerate((*EXPORT_WIDTHS, None)):
                picked = tf.cast(tf.where(tf.equal(bucket, index))[:, 0], tf.int32)
                parts.append(
                    tf.cond(
                        tf.size(picked) > 0,
                        self._branch(tf.gather(ids, picked), width),
                        _no_rows,
                    )
                )
                rows.append(picked)
            steps = tf.reduce_max([tf.shape(part[2])[1] for part in parts])
            width = tf.reduce_max([tf.shape(part[3])[2] for part in parts])
            order = tf.argsort(tf.concat(rows, 0))
            out_lengths = tf.gather(tf.concat([p[0] for p in parts], 0), order)
            scores = tf.gather(tf.concat([p[1] for p in parts], 0), order)
            tokens = [
                tf.pad(p[2], [[0, 0], [0, steps - tf.shape(p[2])[1]]]) for p in parts
            ]
            attention = [
                tf.pad(
                    p[3],
                    [
                        [0, 0],
                        [0, steps - tf.shape(p[3])[1]],
                        [0, width - tf.shape(p[3])[2]],
                    ],
                )
                for p in parts
            ]
            tokens = tf.gather(tf.concat(tokens, 0), order)
            attention = tf.gather(tf.concat(attention, 0), order)
            return out_lengths, scores, tokens, attention

        def _branch(self, ids, width):
            settings = self.settings
            limit = settings["max_output_length"] or (
                default_max_length(width) if width else MAX_OUTPUT_LENGTH
            )

            def run():
                shape = None if width is None else [None, width]
                source = ids.to_tensor(default_value=PAD_ID, shape=shape)
                if settings["beam"] == 1:
                    out = self.model.greedy(source, limit, BOS_ID, EOS_ID)
                else:
                    out = self.model.beam(
                        source,
                        settings["beam"],
                        limit,
                        BOS_ID,
                        EOS_ID,
                        length_penalty=settings["length_penalty"],
                    )
                attention = tf.cast(out.attention, tf.float32)
                return (
                    tf.cast(out.lengths, tf.int32),
                    tf.cast(out.scores, tf.float32),
                    tf.cast(out.tokens, tf.int32),
                    attention[:, :, : tf.reduce_max(ids.row_lengths())],
                )

            return run

        def _outputs(self, sentences):
            ids, lengths = self._encode(sentences)
            out_lengths, scores, tokens, attention = self._decode(ids, lengths)
            empty = tf.equal(lengths, 0)
            out_lengths = tf.where(empty, 0, out_lengths)
            tokens = tf.RaggedTensor.from_tensor(tokens, lengths=out_lengths)
            return ids, lengths, tokens, tf.where(empty, 0.0, scores), attention

        def _translate(self, sentences):
            _, _, tokens, scores, _ = self._outputs(sentences)
            kept = tf.ragged.boolean_mask(
                tokens, (tokens != EOS_ID) & (tokens != PAD_ID) & (tokens != BOS_ID)
            )
            texts = self.target.detokenize(kept)
            texts = tf.strings.strip(tf.strings.regex_replace(texts, _WHITESPACE, " "))
            return {"translations": texts, "scores": scores}

        def _attention(self, sentences):
            ids, lengths, tokens, _, attention = self._outputs(sentences)
            source_pieces = self.source.id_to_string(ids).to_tensor("")
            target_pieces = self.target.id_to_string(tokens).to_tensor("")
            steps = tf.shape(target_pieces)[1]
            width = tf.shape(source_pieces)[1]
            return {
                "source_pieces": source_pieces,
                "target_pieces": target_pieces,
                "weights": attention[:, :steps, :width],
            }

    return ServingModule


def _no_rows():
    import tensorflow as tf

    return (
        tf.zeros([0], tf.int32),
        tf.zeros([0], tf.float32),
        tf.zeros([0, 0], tf.int32),
        tf.zeros([0, 0, 0], tf.float32),
    )


def _ServingModule(translator, settings):  # noqa: N802 (builds a tf.Module)
    return _serving_module_class()(translator, settings)
