"""Translating text with a trained model: `load` a model directory, then
`translate` sentences or look at the `attention` of one.

Sentences are encoded with the saved tokenizers, sorted by length and decoded
in batches of a few static shapes (source widths 8, 16, 32, ... tokens; a
fixed row count), so the compiled decoding function (`jax.jit` on JAX,
`tf.function` on TensorFlow) is built once per width and then reused.
"""

import collections
import numbers
import pathlib

import keras
import numpy as np

from keras_seq2seq.translate import model_dir
from keras_seq2seq.translate.errors import PipelineError
from keras_seq2seq.translate.model import Translator
from keras_seq2seq.translate.tokenizer import BOS_ID, EOS_ID, SubwordTokenizer

# Source rows decoded together (divided by the beam width for beam search).
DEFAULT_BATCH_SIZE = 64
# Narrowest padded source width; wider ones double: 8, 16, 32, ...
MIN_WIDTH = 8
# The longest output the default limit allows.
MAX_OUTPUT_LENGTH = 256

Decoded = collections.namedtuple("Decoded", ("tokens", "attention", "score"))
Decoded.__doc__ = """One decoded sentence.

Attributes:
    tokens: int array of the output ids, `eos` included if one was produced.
    attention: float array `[len(tokens), source length]`, the alignment of
        each output token.
    score: greedy: the sum of the output tokens' log probabilities; beam:
        the beam search's (length-penalised) score.
"""

Hypothesis = collections.namedtuple("Hypothesis", ("text", "score", "complete"))
Hypothesis.__doc__ = """What `TrainedTranslator.hypotheses` returns per sentence.

Attributes:
    text: the translation.
    score: its score (see `Decoded.score`; 0.0 for a blank sentence).
    complete: False if the output reached the length limit before `eos`.
"""

AttentionMap = collections.namedtuple(
    "AttentionMap", ("source_tokens", "target_tokens", "weights")
)
AttentionMap.__doc__ = """What `TrainedTranslator.attention` returns.

Attributes:
    source_tokens: the source pieces (SentencePiece, `▁` marks a word start).
    target_tokens: the output pieces, `</s>` last if the output ended.
    weights: float array `[len(target_tokens), len(source_tokens)]`.
"""


def default_max_length(source_length):
    """The default output limit for a source of `source_length` pieces:
    `2 * source_length + 10`, at most `MAX_OUTPUT_LENGTH`.

    Example:
    >>> default_max_length(8), default_max_length(1000)
    (26, 256)
    """
    return min(2 * int(source_length) + 10, MAX_OUTPUT_LENGTH)


def padded_width(length):
    """The static source width a sentence of `length` pieces is padded to.

    Example:
    >>> [padded_width(n) for n in (1, 8, 9, 17, 40)]
    [8, 8, 16, 32, 64]
    """
    width = MIN_WIDTH
    while width < length:
        width *= 2
    return width


def decode_ids(
    model,
    source_ids,
    beam=1,
    max_length=None,
    length_penalty=0.0,
    coverage_penalty=0.0,
    batch_size=DEFAULT_BATCH_SIZE,
    bos_id=BOS_ID,
    eos_id=EOS_ID,
    all_beams=False,
    sampling=None,
):
    """Decodes id sequences with a `Translator`, in static-shape batches.

    Sequences are sorted by length and grouped by `padded_width`; each group
    is cut into batches of one row count (`batch_size // beam`, or the next
    power of two above the number of sequences if that is smaller), the last
    one filled with copies, so each width has one shape.

    Args:
        model: a `Translator`.
        source_ids: list of int sequences (no bos or eos).
        beam: 1 for greedy decoding, else the beam width.
        max_length: the most output tokens; default `default_max_length` of
            each batch's width.
        length_penalty, coverage_penalty: beam search penalties (GNMT).
        batch_size: source rows per batch for greedy decoding.
        bos_id, eos_id: the tokenizer's ids.
        all_beams: decode each sequence to a list of `beam` `Decoded`, best
            first.
        sampling: a `Sampling` to draw the tokens (with `beam=1`).

    Returns:
        A list of `Decoded` (lists with `all_beams`), in the order of
        `source_ids`. An empty sequence decodes to no tokens.

    Example:
    >>> model = Translator(12, 12, embedding_dim=4, encoder_units=4,
    ...                    decoder_units=8, encoder_layers=1)
    >>> out = decode_ids(model, [[5, 6, 7], [], [4]], max_length=5)
    >>> [len(d.tokens) <= 5 for d in out], out[0].attention.shape[1], len(out[1].tokens)
    ([True, True, True], 3, 0)
    """
    lengths = [len(ids) for ids in source_ids]
    empty = Decoded(np.zeros(0, np.int32), np.zeros((0, 0), np.float32), 0.0)
    results = [[empty] * beam if all_beams else empty] * len(source_ids)
    order = [i for i in np.argsort(lengths, kind="stable") if lengths[i]]
    if not order:
        return results
    rows = max(1, batch_size // beam)
    if len(order) < rows:
        rows = min(rows, 1 << (len(order) - 1).bit_length())
    groups = {}
    for index in order:
        groups.setdefault(padded_width(lengths[index]), []).append(index)
    for width, indices in groups.items():
        limit = default_max_length(width) if max_length is None else max_length
        translate = model.make_translate_function(
            limit,
            bos_id,
            eos_id,
            beam_width=beam,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
            all_beams=all_beams and beam > 1,
            sampling=sampling,
        )
        for start in range(0, len(indices), rows):
            chunk = indices[start : start + rows]
            batch = np.zeros((rows, width), np.int32)
            for row, index in enumerate(np.resize(chunk, rows)):
                batch[row, : lengths[index]] = source_ids[index]
            out = translate(keras.ops.convert_to_tensor(batch))
            # Every field with a beam axis after the batch axis (trailing:
            # the axes after it).
            tokens, steps, attention, scores = (
                np.reshape(array, (rows, -1, *array.shape[array.ndim - trailing :]))
                for array, trailing in (
                    (keras.ops.convert_to_numpy(out.tokens), 1),
                    (keras.ops.convert_to_numpy(out.lengths), 0),
                    (keras.ops.convert_to_numpy(out.attention), 2),
                    (keras.ops.convert_to_numpy(out.scores), 0),
                )
            )
            for row, index in enumerate(chunk):
                found = [
                    Decoded(
                        tokens[row, k, :n].astype(np.int32),
                        attention[row, k, :n, : lengths[index]].astype(np.float32),
                        float(scores[row, k]),
                    )
                    for k, n in enumerate(steps[row].astype(int))
                ]
                results[index] = found if all_beams else found[0]
    return results


class TrainedTranslator:
    """A trained `Translator` with its tokenizers: text in, text out.

    Build one with `load(model_dir)` (or directly from a model and two
    tokenizers).

    Args:
        model: a `Translator`.
        source_tokenizer, target_tokenizer: `SubwordTokenizer`s whose
            vocabulary sizes match the model's.
        config: optional dict, the model directory's `config.json`.
        directory: optional path the model was loaded from.
    """

    def __init__(
        self, model, source_tokenizer, target_tokenizer, config=None, directory=None
    ):
        if (model.source_vocab_size, model.target_vocab_size) != (
            source_tokenizer.vocab_size,
            target_tokenizer.vocab_size,
        ):
            raise PipelineError(
                "The tokenizers do not match the model: vocabulary sizes "
                f"{source_tokenizer.vocab_size} and {target_tokenizer.vocab_size}, "
                f"model {model.source_vocab_size} and {model.target_vocab_size}"
            )
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.config = config or {}
        self.directory = None if directory is None else pathlib.Path(directory)

    def translate(
        self,
        sentences,
        beam=1,
        max_length=None,
        length_penalty=0.0,
        coverage_penalty=0.0,
        batch_size=DEFAULT_BATCH_SIZE,
        sampling=None,
    ):
        """Translates a list of sentences.

        Args:
            sentences: list of str (normalised like the training text).
            beam: 1 for greedy decoding, else the beam width.
            max_length: the most output pieces per sentence; default
                `2 * source pieces + 10` (rounded up to the batch width),
                at most `MAX_OUTPUT_LENGTH`.
            length_penalty, coverage_penalty: beam search penalties.
            batch_size: sentences decoded together (greedy).
            sampling: None, or a `Sampling` (with `beam=1`): each output
                piece is drawn from the model's distribution.

        Returns:
            list of str, one translation per sentence ("" for a blank one).
        """
        hypotheses = self.hypotheses(
            sentences,
            beam,
            max_length,
            length_penalty,
            coverage_penalty,
            batch_size,
            sampling=sampling,
        )
        return [found[0].text for found in hypotheses]

    def hypotheses(
        self,
        sentences,
        beam=1,
        max_length=None,
        length_penalty=0.0,
        coverage_penalty=0.0,
        batch_size=DEFAULT_BATCH_SIZE,
        n_best=1,
        sampling=None,
    ):
        """Translates a list of sentences, as `translate`, keeping the
        `n_best` best beams of each (at most `beam`), their scores, and
        whether each ended before the length limit. With `sampling`,
        `n_best` independent draws of each sentence, best first.

        Returns:
            One list per sentence of `n_best` `Hypothesis(text, score,
            complete)`, best first.
        """
        sentences = _check_sentences(sentences)
        beam = check_positive("beam", beam)
        n_best = check_positive("n_best", n_best)
        if sampling is not None and beam != 1:
            raise PipelineError(
                "Sampling draws one token at a time: `beam` must be 1. "
                f"Received: beam={beam}"
            )
        if sampling is None and n_best > beam:
            raise PipelineError(
                "`n_best` must be at most `beam`. Received: "
                f"n_best={n_best}, beam={beam}"
            )
        draws = n_best if sampling is not None else 1
        decoded = self._decode(
            [sentence for sentence in sentences for _ in range(draws)],
            beam,
            max_length,
            length_penalty,
            coverage_penalty,
            batch_size,
            all_beams=n_best > 1 and sampling is None,
            sampling=sampling,
        )
        if sampling is not None:
            decoded = [
                sorted(decoded[i : i + draws], key=lambda d: -d.score)
                for i in range(0, len(decoded), draws)
            ]
        elif n_best == 1:
            decoded = [[d] for d in decoded]
        kept = [found[:n_best] for found in decoded]
        texts = iter(self.target_tokenizer.decode([d.tokens for f in kept for d in f]))
        return [
            [
                Hypothesis(
                    next(texts),
                    d.score,
                    not sentence.strip() or d.tokens[-1:].tolist() == [EOS_ID],
                )
                for d in found
            ]
            for found, sentence in zip(kept, sentences)
        ]

    def attention(
        self,
        sentence,
        beam=1,
        max_length=None,
        length_penalty=0.0,
        coverage_penalty=0.0,
    ):
        """Translates one sentence and returns its alignments.

        Returns:
            An `AttentionMap` `(source_tokens, target_tokens, weights)`:
            pieces on both sides and `weights[t, s]`, the attention output
            piece `t` paid to source piece `s` (each row sums to 1).
        """
        if not isinstance(sentence, str) or not sentence.strip():
            raise PipelineError(
                f"`sentence` must be a non-blank string. Received: {sentence!r}"
            )
        (decoded,) = self._decode(
            [sentence], beam, max_length, length_penalty, coverage_penalty, 1
        )
        source = self.source_tokenizer.encode([sentence])[0]
        return AttentionMap(
            self.source_tokenizer.id_to_piece(source),
            self.target_tokenizer.id_to_piece(decoded.tokens),
            decoded.attention,
        )

    def _decode(
        self,
        sentences,
        beam,
        max_length,
        length_penalty,
        coverage_penalty,
        batch_size,
        all_beams=False,
        sampling=None,
    ):
        beam = check_positive("beam", beam)
        batch_size = check_positive("batch_size", batch_size)
        if max_length is not None:
            max_length = check_positive("max_length", max_length)
        return decode_ids(
            self.model,
            self.source_tokenizer.encode(sentences),
            beam=beam,
            max_length=max_length,
            length_penalty=float(length_penalty),
            coverage_penalty=float(coverage_penalty),
            batch_size=batch_size,
            all_beams=all_beams,
            sampling=sampling,
        )

    def __repr__(self):
        where = f", directory='{self.directory}'" if self.directory else ""
        return (
            f"TrainedTranslator(source_vocab_size={self.model.source_vocab_size}, "
            f"target_vocab_size={self.model.target_vocab_size}{where})"
        )


def load(directory):
    """Loads a model directory written by `train`.

    Args:
        directory: the `--out` directory of a training run (its best model
            so far: training may still be running or have been interrupted
            after its first epoch).

    Returns:
        A `TrainedTranslator`.

    Raises:
        PipelineError: the directory, its config, tokenizers or model are
            missing or corrupt.
    """
    directory = pathlib.Path(directory)
    config = model_dir.read_config(directory)
    tokenizers = []
    for name in (model_dir.SOURCE_TOKENIZER, model_dir.TARGET_TOKENIZER):
        try:
            tokenizers.append(SubwordTokenizer.load(directory, name))
        except (OSError, ValueError) as error:
            raise PipelineError(
                f"The {name} tokenizer of '{directory}' is missing or corrupt: {error}"
            ) from error
    path = directory / model_dir.MODEL_FILE
    if not path.is_file():
        raise PipelineError(
            f"'{directory}' holds no trained model yet ({model_dir.MODEL_FILE} is "
            "written at the end of the first training epoch)"
        )
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad file.
        raise PipelineError(
            f"The model file '{path}' is corrupt: {type(error).__name__}: "
            f"{_first_line(error)}"
        ) from error
    if not isinstance(model, Translator):
        raise PipelineError(
            f"'{path}' holds a {type(model).__name__}, not a keras_seq2seq Translator"
        )
    return TrainedTranslator(model, *tokenizers, config=config, directory=directory)


def _check_sentences(sentences):
    if not isinstance(sentences, str):
        sentences = list(sentences)
        if all(isinstance(sentence, str) for sentence in sentences):
            return sentences
    raise PipelineError(
        f"`sentences` must be a list of strings. Received: {sentences!r:.80}"
    )


def check_positive(name, value):
    """`value` as an int; raises `PipelineError` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise PipelineError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else "(no message)"
