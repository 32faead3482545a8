"""Scoring a trained model: sacreBLEU and chrF on the test (or valid) split
recorded at training (never a training sentence), or on any file of sentence
pairs."""

import pathlib
import sys
import time

import keras

from keras_seq2seq.translate import model_dir
from keras_seq2seq.translate.corpus import read_pairs
from keras_seq2seq.translate.errors import PipelineError
from keras_seq2seq.translate.inference import check_positive, load
from keras_seq2seq.translate.scores import corpus_scores
from keras_seq2seq.translate.split import SPLIT_NAMES, load_split


def evaluate(
    model,
    pairs=None,
    split=None,
    beam=1,
    length_penalty=0.0,
    coverage_penalty=0.0,
    max_sentences=None,
    json_path=None,
    log=None,
):
    """Translates a test set and scores it with sacreBLEU (BLEU and chrF).

    Args:
        model: a model directory, or a `TrainedTranslator` from `load`.
        pairs: None for a split recorded in the model directory (`split`),
            or a file of sentence pairs read like the training file (the
            model's direction: its `reverse` applies). The model directory's
            own `test.tsv` or `valid.tsv`, already in the model's direction,
            is scored as that split.
        split: `"test"` (the default without `pairs`) or `"valid"`: the split
            recorded in the model directory.
        beam: 1 for greedy decoding, else the beam width.
        length_penalty, coverage_penalty: beam search penalties.
        max_sentences: score only the first this many pairs (None: all).
        json_path: optional file to write the result to, as JSON.
        log: function of one line for progress and the scores; None writes
            to stderr.

    Returns:
        A dict: `bleu`, `chrf`, `signature` (sacreBLEU's BLEU signature),
        `chrf_signature`, `bleu_text` (sacreBLEU's full line), `sentences`
        (pairs scored, one reference each), `distinct_sources` (sentences
        translated), `beam`, `length_penalty`, `coverage_penalty`, `pairs`
        (what was scored), `model`, `backend`, `seconds` (translation time).

    Raises:
        PipelineError: a missing or corrupt model directory or pairs file,
            or an invalid option.
    """
    log = log or _stderr_line
    beam = check_positive("beam", beam)
    translator = load(model) if isinstance(model, (str, pathlib.Path)) else model
    directory = translator.directory
    if pairs is not None and split is not None:
        raise PipelineError(
            f"Give `pairs` or `split`, not both. Received: pairs='{pairs}', "
            f"split={split!r}"
        )
    if pairs is not None and directory is not None:
        split = _recorded_split_name(directory, pairs)
        if split is not None:
            log(f"'{pairs}' is the {split} split recorded with the model")
            pairs = None
    if pairs is None:
        split = split or "test"
        if split not in SPLIT_NAMES:
            raise PipelineError(
                f"`split` must be one of {', '.join(SPLIT_NAMES)}. Received: "
                f"split={split!r}"
            )
        if directory is None:
            raise PipelineError(
                "Give `pairs`: this model was not loaded from a model directory, "
                "so it has no recorded split"
            )
        try:
            test = getattr(load_split(directory), split)
        except (OSError, ValueError) as error:
            raise PipelineError(
                f"The {split} split of '{directory}' is missing or corrupt: {error}"
            ) from error
        what = f"the {split} split recorded in '{directory}'"
    else:
        reverse = bool(translator.config.get("data", {}).get("reverse", False))
        try:
            test = read_pairs(pairs, reverse=reverse)
        except (OSError, ValueError) as error:
            raise PipelineError(str(error)) from error
        what = f"'{pairs}'" + (" (reversed, as at training)" if reverse else "")
    if max_sentences is not None:
        max_sentences = check_positive("max_sentences", max_sentences)
        what += f", its first {min(max_sentences, len(test)):,} pairs"
        test = test.subset(range(min(max_sentences, len(test))))
    if not len(test):
        raise PipelineError(f"Nothing to evaluate: {what} holds no sentence pair")

    sources = list(dict.fromkeys(test.sources))
    decoding = "greedy" if beam == 1 else f"beam {beam}"
    log(
        f"translating {len(sources):,} distinct sentences of {what} "
        f"({len(test):,} pairs, {decoding})"
    )
    start = time.monotonic()
    outputs = translator.translate(
        sources,
        beam=beam,
        length_penalty=length_penalty,
        coverage_penalty=coverage_penalty,
    )
    seconds = time.monotonic() - start
    translated = dict(zip(sources, outputs))
    scores = corpus_scores([translated[s] for s in test.sources], list(test.targets))
    result = {
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "signature": scores["signature"],
        "chrf_signature": scores["chrf_signature"],
        "bleu_text": scores["bleu_text"],
        "sentences": len(test),
        "distinct_sources": len(sources),
        "beam": beam,
        "length_penalty": float(length_penalty),
        "coverage_penalty": float(coverage_penalty),
        "pairs": f"{split} split" if pairs is None else str(pairs),
        "model": None if directory is None else str(directory),
        "backend": keras.backend.backend(),
        "seconds": seconds,
    }
    for line in report(result):
        log(line)
    if json_path is not None:
        model_dir.write_json(json_path, result)
        log(f"wrote '{json_path}'")
    return result


def report(result):
    """The lines that describe an `evaluate` result.

    Example:
    >>> result = {"bleu_text": "BLEU = 30.00 ...", "signature": "nrefs:1|...",
    ...           "chrf": 50.0, "chrf_signature": "nrefs:1|...", "sentences": 2,
    ...           "distinct_sources": 2, "beam": 1, "seconds": 1.5}
    >>> print("\\n".join(report(result)))
    BLEU = 30.00 ...
      signature: nrefs:1|...
    chrF2 = 50.00
      signature: nrefs:1|...
    2 pairs, 2 sentences translated (greedy) in 1.5 s
    """
    decoding = "greedy" if result["beam"] == 1 else f"beam {result['beam']}"
    return [
        result["bleu_text"],
        f"  signature: {result['signature']}",
        f"chrF2 = {result['chrf']:.2f}",
        f"  signature: {result['chrf_signature']}",
        f"{result['sentences']:,} pairs, {result['distinct_sources']:,} sentences "
        f"translated ({decoding}) in {result['seconds']:.1f} s",
    ]


def _recorded_split_name(directory, pairs):
    """The name of the split whose file in `directory` `pairs` is, or None."""
    path = pathlib.Path(pairs)
    for name in SPLIT_NAMES:
        recorded = pathlib.Path(directory) / f"{name}.tsv"
        if path.exists() and recorded.exists() and path.samefile(recorded):
            return name
    return None


def _stderr_line(line):
    print(line, file=sys.stderr, flush=True)
