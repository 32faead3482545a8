"""Translation quality scores with sacreBLEU: BLEU and chrF on detokenised
text, one reference per sentence, with their signatures."""

from sacrebleu.metrics import BLEU, CHRF


def bleu_score(hypotheses, references):
    """Corpus BLEU (sacreBLEU defaults: 13a tokenisation, mixed case) of
    `hypotheses` against one reference each, as a float in [0, 100].

    Example:
    >>> round(bleu_score(["the cat sat on the mat"], ["the cat sat on the mat"]), 6)
    100.0
    """
    _check_lengths(hypotheses, references)
    return float(BLEU().corpus_score(list(hypotheses), [list(references)]).score)


def corpus_scores(hypotheses, references):
    """BLEU and chrF of `hypotheses` against one reference each.

    Returns:
        A dict: `bleu` (score), `bleu_text` (sacreBLEU's line: n-gram
        precisions, brevity penalty, lengths), `signature` (BLEU's
        signature), `chrf`, `chrf_signature`.

    Example:
    >>> scores = corpus_scores(["Il fait beau."], ["Il fait beau."])
    >>> round(scores["bleu"], 6), round(scores["chrf"], 6), scores["signature"][:7]
    (100.0, 100.0, 'nrefs:1')
    """
    _check_lengths(hypotheses, references)
    hypotheses, references = list(hypotheses), [list(references)]
    bleu, chrf = BLEU(), CHRF()
    bleu_result = bleu.corpus_score(hypotheses, references)
    chrf_result = chrf.corpus_score(hypotheses, references)
    return {
        "bleu": float(bleu_result.score),
        "bleu_text": str(bleu_result),
        "signature": str(bleu.get_signature()),
        "chrf": float(chrf_result.score),
        "chrf_signature": str(chrf.get_signature()),
    }


def _check_lengths(hypotheses, references):
    if len(hypotheses) != len(references):
        raise ValueError(
            "Give one reference per hypothesis. Received: "
            f"{len(hypotheses)} hypotheses and {len(references)} references"
        )
