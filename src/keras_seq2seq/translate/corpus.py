"""Reading Tatoeba/manythings sentence pairs (tab-separated, `.txt` or `.gz`).

Each line is `column 1<TAB>column 2`, optionally followed by a third
(attribution) column that is ignored. Text is normalised with
`normalize_text`. Malformed lines are skipped and reported on the returned
`Corpus`: nothing is dropped silently.
"""

import dataclasses
import gzip
import hashlib
import importlib.resources
import pathlib
import unicodedata

DEFAULT_CORPUS = "fra-eng_fra.txt.gz"

# Why a line is skipped, in the order `summary()` lists them.
SKIP_REASONS = {
    "blank_line": "blank",
    "bad_utf8": "not valid UTF-8",
    "no_tab": "without a tab",
    "too_many_columns": "with more than 3 columns",
    "empty_side": "with an empty side",
}

# How many line numbers are kept per reason.
MAX_REPORTED_LINES = 5

_GZIP_MAGIC = b"\x1f\x8b"


def normalize_text(text):
    """NFKC-normalises `text`, collapses runs of whitespace to one space and
    strips it; case and accents are kept.

    NFKC turns the narrow no-break space (U+202F) and the no-break space
    (U+00A0) that French puts before `! ? : ;` into plain spaces, and
    compatibility characters such as ligatures or `…` into their plain forms.

    Example:
    >>> normalize_text("  Cours\\u202f!\\u00a0 Vite\\t! ")
    'Cours ! Vite !'
    """
    return " ".join(unicodedata.normalize("NFKC", text).split())


@dataclasses.dataclass(frozen=True)
class SentencePairs:
    """Parallel sentences with the file line each pair came from.

    Attributes:
        sources: the source sentences (normalised).
        targets: the target sentences, one per source.
        line_numbers: the 1-based line of each pair in the file it was read
            from.

    Example:
    >>> pairs = SentencePairs(("Hi.", "Go."), ("Salut !", "Va !"), (1, 2))
    >>> len(pairs), list(pairs.subset([1]))
    (2, [('Go.', 'Va !')])
    """

    sources: tuple
    targets: tuple
    line_numbers: tuple

    def __post_init__(self):
        sizes = {len(self.sources), len(self.targets), len(self.line_numbers)}
        if len(sizes) != 1:
            raise ValueError(
                "`sources`, `targets` and `line_numbers` must have the same length. "
                f"Received: {len(self.sources)}, {len(self.targets)} and "
                f"{len(self.line_numbers)}"
            )

    def __len__(self):
        return len(self.sources)

    def __iter__(self):
        """Yields `(source, target)` tuples."""
        return iter(zip(self.sources, self.targets))

    def subset(self, indices):
        """The pairs at `indices` (positions in this object), as `SentencePairs`."""
        indices = list(indices)
        return SentencePairs(
            tuple(self.sources[i] for i in indices),
            tuple(self.targets[i] for i in indices),
            tuple(self.line_numbers[i] for i in indices),
        )


@dataclasses.dataclass(frozen=True)
class Corpus(SentencePairs):
    """The pairs read from one file, with where they came from and what was
    skipped.

    Attributes:
        path: the file read, as a string.
        sha256: hex digest of the file's uncompressed bytes (the same for a
            `.txt` and its `.gz`).
        reverse: True if the source is the file's second column.
        num_lines: lines in the file.
        skipped: `{reason: count}` for each reason in `SKIP_REASONS` that
            occurred.
        skipped_lines: `{reason: [line numbers]}`, the first
            `MAX_REPORTED_LINES` lines skipped for each reason.
    """

    path: str = ""
    sha256: str = ""
    reverse: bool = False
    num_lines: int = 0
    skipped: dict = dataclasses.field(default_factory=dict)
    skipped_lines: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        """One line: pairs read, direction, and the skipped lines by reason.

        Example:
        >>> corpus = Corpus(("Hi.",), ("Salut !",), (2,), path="pairs.txt",
        ...                 num_lines=2, skipped={"no_tab": 1},
        ...                 skipped_lines={"no_tab": [1]})
        >>> print(corpus.summary())
        pairs.txt: 1 pair from 2 lines (source: column 1); 1 line skipped: 1 without a tab (line 1)
        """
        column = 2 if self.reverse else 1
        head = (
            f"{self.path}: {_count(len(self), 'pair')} from "
            f"{_count(self.num_lines, 'line')} (source: column {column})"
        )
        if not self.skipped:
            return f"{head}; no malformed lines"
        parts = []
        for reason, words in SKIP_REASONS.items():
            if reason in self.skipped:
                lines = self.skipped_lines[reason]
                more = ", ..." if self.skipped[reason] > len(lines) else ""
                label = "line" if len(lines) == 1 else "lines"
                numbers = ", ".join(str(n) for n in lines)
                parts.append(
                    f"{self.skipped[reason]:,} {words} ({label} {numbers}{more})"
                )
        total = sum(self.skipped.values())
        return f"{head}; {_count(total, 'line')} skipped: {', '.join(parts)}"


def _count(number, noun):
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def default_corpus_path():
    """The English-French corpus shipped with the package
    (`fra-eng_fra.txt.gz`, Tatoeba via manythings.org, CC BY 2.0 FR; see
    `keras_seq2seq/translate/data/README.md`).

    Example:
    >>> default_corpus_path().name
    'fra-eng_fra.txt.gz'
    """
    data = importlib.resources.files(__package__) / "data" / DEFAULT_CORPUS
    return pathlib.Path(str(data))


def read_pairs(path, reverse=False):
    """Reads sentence pairs from a Tatoeba/manythings tab-separated file.

    Args:
        path: a `.txt` file or a gzip-compressed one (detected from its first
            bytes, whatever the name). UTF-8, one pair a line: 2 columns, or
            3 where the third (attribution) is ignored.
        reverse: if True the source is the second column and the target the
            first.

    Returns:
        A `Corpus`. Both sides are normalised with `normalize_text`. Lines
        that are blank, not UTF-8, have no tab or more than 3 columns, or an
        empty side after normalisation are skipped and counted in
        `Corpus.skipped` (first line numbers in `Corpus.skipped_lines`);
        `Corpus.summary()` reports them.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file holds no valid pair.

    Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.txt"
    >>> _ = path.write_text("Run!\\tCours\\u202f!\\nno tab here\\n", encoding="utf-8")
    >>> corpus = read_pairs(path, reverse=True)
    >>> list(corpus), corpus.skipped, corpus.skipped_lines
    ([('Cours !', 'Run!')], {'no_tab': 1}, {'no_tab': [2]})
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such corpus file: '{path}'")
    data = path.read_bytes()
    if data.startswith(_GZIP_MAGIC):
        data = gzip.decompress(data)
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the file's final newline
        lines.pop()

    sources, targets, line_numbers = [], [], []
    skipped, skipped_lines = {}, {}
    for number, raw in enumerate(lines, start=1):
        pair, reason = _parse_line(raw, first=number == 1)
        if reason is None:
            source, target = pair[::-1] if reverse else pair
            sources.append(source)
            targets.append(target)
            line_numbers.append(number)
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
            if len(skipped_lines.setdefault(reason, [])) < MAX_REPORTED_LINES:
                skipped_lines[reason].append(number)

    corpus = Corpus(
        tuple(sources),
        tuple(targets),
        tuple(line_numbers),
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        reverse=bool(reverse),
        num_lines=len(lines),
        skipped=skipped,
        skipped_lines=skipped_lines,
    )
    if not corpus.sources:
        raise ValueError(
            f"No valid sentence pair in '{path}' (expected lines "
            f"'source<TAB>target'). {corpus.summary()}"
        )
    return corpus


def _parse_line(raw, first):
    """`((column 1, column 2), None)` for a valid line, else `(None, reason)`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "bad_utf8"
    if first:
        text = text.removeprefix("\ufeff")
    if not text.strip():
        return None, "blank_line"
    columns = text.split("\t")
    if len(columns) == 1:
        return None, "no_tab"
    if len(columns) > 3:
        return None, "too_many_columns"
    pair = normalize_text(columns[0]), normalize_text(columns[1])
    if not all(pair):
        return None, "empty_side"
    return pair, None
