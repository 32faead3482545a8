"""A deterministic train/valid/test split that keeps each source sentence in
one split, saved next to the model so evaluation never sees training pairs.

Tatoeba lists several translations of many sentences. Pairs are grouped by
their (normalised) source sentence and whole groups are assigned: the groups
are ordered by `sha256(seed, source)`, the first ones go to the test split
until it holds `test_size` pairs, the next ones to the valid split, the rest
to training. The result depends only on the set of pairs and the seed, not on
their order in the file, the Python version or the machine.
"""

import dataclasses
import hashlib
import json
import numbers
import pathlib

from keras_seq2seq.translate.corpus import SentencePairs, read_pairs

# Default size of the test and valid splits: 2,000 pairs, or a tenth of the
# corpus if that is smaller (but at least one pair).
DEFAULT_SPLIT_PAIRS = 2000
DEFAULT_SPLIT_FRACTION = 0.1

SPLIT_FILE = "split.json"
SPLIT_FORMAT = 1
# The splits written out as files (`test.tsv`, `valid.tsv`), and all three.
SPLIT_NAMES = ("test", "valid")
_NAMES = ("train", "valid", "test")


@dataclasses.dataclass(frozen=True)
class Split:
    """The three parts of a corpus and where the corpus came from.

    Attributes:
        train: the training pairs, or None for a split loaded without its
            corpus (see `load_split`).
        valid: the validation pairs.
        test: the test pairs.
        seed: the seed the split was drawn with.
        corpus_path: the corpus file, as given to `read_pairs`.
        corpus_sha256: the corpus's `Corpus.sha256`.
        reverse: whether the corpus was read with `reverse=True`.
    """

    train: SentencePairs | None
    valid: SentencePairs
    test: SentencePairs
    seed: int
    corpus_path: str
    corpus_sha256: str
    reverse: bool

    def summary(self):
        """One line with the size of each split.

        Example:
        >>> pairs = SentencePairs(("a",), ("b",), (1,))
        >>> print(Split(pairs, pairs, pairs, 0, "x.txt", "", False).summary())
        split of x.txt (seed 0): train 1 pairs, valid 1 pairs, test 1 pairs
        """
        train = "not loaded" if self.train is None else f"{len(self.train):,} pairs"
        return (
            f"split of {self.corpus_path} (seed {self.seed}): train {train}, "
            f"valid {len(self.valid):,} pairs, test {len(self.test):,} pairs"
        )

    def save(self, directory):
        """Writes the split to `directory` (created if needed) and returns the
        path of its `split.json`.

        Files written:
            `test.tsv`, `valid.tsv`: the pairs, `source<TAB>target` in the
                model's direction (after `reverse`), normalised text, UTF-8.
                `read_pairs` reads them back unchanged, so `evaluate` needs
                nothing else.
            `split.json`: the seed, the corpus path, its sha256 and `reverse`,
                the sizes, and the corpus line numbers of every split as
                inclusive `[first, last]` runs. The training pairs are only
                referenced this way: they are most of the corpus, and
                `load_split(directory, corpus)` rebuilds them from the same
                file (checked by its sha256).
        """
        if self.train is None:
            raise ValueError(
                "This split was loaded without its corpus, so its training pairs "
                "are unknown and it cannot be saved. Load it with "
                "`load_split(directory, corpus)` first."
            )
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in SPLIT_NAMES:
            pairs = getattr(self, name)
            text = "".join(f"{s}\t{t}\n" for s, t in pairs)
            (directory / f"{name}.tsv").write_text(text, encoding="utf-8")
        record = {
            "format": SPLIT_FORMAT,
            "seed": self.seed,
            "corpus": {
                "path": self.corpus_path,
                "sha256": self.corpus_sha256,
                "reverse": self.reverse,
            },
            "sizes": {name: len(getattr(self, name)) for name in _NAMES},
            "line_runs": {
                name: _runs(getattr(self, name).line_numbers) for name in _NAMES
            },
        }
        path = directory / SPLIT_FILE
        path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        return path


def split_corpus(corpus, test_size=None, valid_size=None, seed=0):
    """Splits a corpus into train, valid and test, keeping every source
    sentence in exactly one split.

    Args:
        corpus: a `Corpus` from `read_pairs`.
        test_size: pairs in the test split: an int count, a float fraction of
            the corpus in [0, 1), or None for the default: 2,000 pairs, or a
            tenth of the corpus if that is smaller (at least 1).
        valid_size: the same for the valid split.
        seed: int; another seed draws another split.

    Returns:
        A `Split`. The test and valid splits hold at least the requested
        number of pairs and fewer than that plus the largest group of pairs
        sharing one source. Pairs keep their corpus order within each split.

    Raises:
        ValueError: a size is invalid, or nothing would be left for training.

    Example:
    >>> from keras_seq2seq.translate.corpus import Corpus
    >>> sources = [f"Sentence {i}." for i in range(50)]
    >>> corpus = Corpus(tuple(sources), tuple(sources), tuple(range(1, 51)))
    >>> split = split_corpus(corpus, seed=1)
    >>> len(split.train), len(split.valid), len(split.test)
    (40, 5, 5)
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
    total = len(corpus)
    test_size = _resolve_size("test_size", test_size, total)
    valid_size = _resolve_size("valid_size", valid_size, total)

    groups = {}
    for index, source in enumerate(corpus.sources):
        groups.setdefault(source, []).append(index)
    order = sorted(groups, key=lambda source: _group_key(seed, source))

    test, valid, train = [], [], []
    for source in order:
        if len(test) < test_size:
            test.extend(groups[source])
        elif len(valid) < valid_size:
            valid.extend(groups[source])
        else:
            train.extend(groups[source])
    if not train:
        raise ValueError(
            f"Nothing left for training in {corpus.path or 'the corpus'}: "
            f"{total} pairs with {len(groups)} distinct sources, test_size="
            f"{test_size} and valid_size={valid_size} pairs. Use smaller sizes."
        )
    return Split(
        train=corpus.subset(sorted(train)),
        valid=corpus.subset(sorted(valid)),
        test=corpus.subset(sorted(test)),
        seed=int(seed),
        corpus_path=corpus.path,
        corpus_sha256=corpus.sha256,
        reverse=corpus.reverse,
    )


def load_split(directory, corpus=None):
    """Reads a split written by `Split.save`.

    Args:
        directory: the directory holding `split.json`, `valid.tsv` and
            `test.tsv`.
        corpus: optional `Corpus`, the one the split was drawn from, read with
            the same `reverse`; needed only to rebuild the training pairs.

    Returns:
        A `Split`; its `train` is None when `corpus` is not given.

    Raises:
        FileNotFoundError: a file of the split is missing.
        ValueError: `corpus` is not the file the split was drawn from.

    Example:
    >>> import tempfile
    >>> from keras_seq2seq.translate.corpus import Corpus
    >>> sources = tuple(f"Sentence {i}." for i in range(50))
    >>> corpus = Corpus(sources, sources, tuple(range(1, 51)), sha256="0")
    >>> directory = tempfile.mkdtemp()
    >>> _ = split_corpus(corpus).save(directory)
    >>> split = load_split(directory)
    >>> split.train is None, len(split.test), load_split(directory, corpus).train == split_corpus(corpus).train
    (True, 5, True)
    """
    directory = pathlib.Path(directory)
    path = directory / SPLIT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No split in '{directory}': '{path}' is missing")
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("format") != SPLIT_FORMAT:
        raise ValueError(
            f"'{path}' has format {record.get('format')!r}; this version reads "
            f"format {SPLIT_FORMAT}"
        )
    lines = {name: _from_runs(record["line_runs"][name]) for name in _NAMES}
    parts = {}
    for name in SPLIT_NAMES:
        pairs = read_pairs(directory / f"{name}.tsv") if record["sizes"][name] else ()
        if len(pairs) != record["sizes"][name]:
            raise ValueError(
                f"'{directory / name}.tsv' holds {len(pairs)} pairs; "
                f"'{path}' records {record['sizes'][name]}"
            )
        parts[name] = SentencePairs(
            tuple(s for s, _ in pairs), tuple(t for _, t in pairs), lines[name]
        )
    meta = record["corpus"]
    train = None
    if corpus is not None:
        if (corpus.sha256, corpus.reverse) != (meta["sha256"], meta["reverse"]):
            raise ValueError(
                f"`corpus` is not the one the split in '{directory}' was drawn "
                f"from: expected sha256 {meta['sha256']} with reverse="
                f"{meta['reverse']}. Received: '{corpus.path}' with sha256 "
                f"{corpus.sha256} and reverse={corpus.reverse}"
            )
        position = {line: i for i, line in enumerate(corpus.line_numbers)}
        train = corpus.subset(position[line] for line in lines["train"])
    return Split(
        train=train,
        valid=parts["valid"],
        test=parts["test"],
        seed=record["seed"],
        corpus_path=meta["path"],
        corpus_sha256=meta["sha256"],
        reverse=meta["reverse"],
    )


def _resolve_size(name, value, total):
    """The number of pairs `value` asks for, out of `total`."""
    if value is None:
        return min(DEFAULT_SPLIT_PAIRS, max(1, int(total * DEFAULT_SPLIT_FRACTION)))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be an int count, a float fraction or None. "
            f"Received: {name}={value!r}"
        )
    if isinstance(value, numbers.Integral):
        if not 0 <= value < total:
            raise ValueError(
                f"`{name}` as a count must be in [0, {total}) for a corpus of "
                f"{total} pairs. Received: {name}={value}"
            )
        return int(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{name}` as a fraction must be in [0, 1). Received: {name}={value}"
        )
    return max(1, round(total * value)) if value > 0 else 0


def _group_key(seed, source):
    return hashlib.sha256(f"{seed}\t{source}".encode()).digest()


def _runs(sorted_numbers):
    """Sorted ints as inclusive `[first, last]` runs: 1,2,3,7 -> [[1,3],[7,7]]."""
    runs = []
    for number in sorted_numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return runs


def _from_runs(runs):
    return tuple(n for first, last in runs for n in range(first, last + 1))
