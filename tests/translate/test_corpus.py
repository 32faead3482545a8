"""read_pairs: formats, normalisation, malformed-line reporting, the bundled corpus."""

import gzip
import hashlib
import pathlib

import pytest

from keras_seq2seq.translate import (
    Corpus,
    SentencePairs,
    default_corpus_path,
    normalize_text,
    read_pairs,
)
from keras_seq2seq.translate.corpus import MAX_REPORTED_LINES

ATTRIBUTION = "CC-BY 2.0 (France) Attribution: tatoeba.org #1 (a) & #2 (b)"

# One line per kind; the comment gives the 1-based line number.
MIXED_LINES = [
    b"Go.\tVa !",  # 1: valid
    b"no tab on this line",  # 2: no_tab
    "Hi.\t\u00a0 \u202f".encode(),  # 3: empty_side (only spaces after NFKC)
    b"Bad \xff\xfe bytes\tMauvais",  # 4: bad_utf8
    b"a\tb\tc\td",  # 5: too_many_columns
    b"",  # 6: blank_line
    f"Run!\tCours\u202f!\t{ATTRIBUTION}".encode(),  # 7: valid, 3 columns
    "  Wow!  \t  \u00c7a   alors\u00a0! ".encode(),  # 8: valid, spaces
    b"\tVide",  # 9: empty_side
]


def write(path, lines, compress=False):
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def mixed(tmp_path):
    return write(tmp_path / "mixed.txt", MIXED_LINES)


def test_valid_pairs_normalised_and_in_order(mixed):
    corpus = read_pairs(mixed)
    assert list(corpus) == [
        ("Go.", "Va !"),
        ("Run!", "Cours !"),
        ("Wow!", "Ça alors !"),
    ]
    assert corpus.line_numbers == (1, 7, 8)
    assert corpus.num_lines == 9
    assert corpus.path == str(mixed)
    assert corpus.reverse is False


def test_malformed_lines_counted_with_line_numbers(mixed):
    corpus = read_pairs(mixed)
    assert corpus.skipped == {
        "no_tab": 1,
        "empty_side": 2,
        "bad_utf8": 1,
        "too_many_columns": 1,
        "blank_line": 1,
    }
    assert corpus.skipped_lines == {
        "no_tab": [2],
        "empty_side": [3, 9],
        "bad_utf8": [4],
        "too_many_columns": [5],
        "blank_line": [6],
    }
    assert len(corpus) + sum(corpus.skipped.values()) == corpus.num_lines


def test_summary_is_one_line_naming_every_reason(mixed):
    summary = read_pairs(mixed).summary()
    assert "\n" not in summary
    assert summary == (
        f"{mixed}: 3 pairs from 9 lines (source: column 1); 6 lines skipped: "
        "1 blank (line 6), 1 not valid UTF-8 (line 4), 1 without a tab (line 2), "
        "1 with more than 3 columns (line 5), 2 with an empty side (lines 3, 9)"
    )


def test_summary_without_malformed_lines(tmp_path):
    path = write(tmp_path / "ok.txt", [b"Go.\tVa !"])
    assert read_pairs(path, reverse=True).summary() == (
        f"{path}: 1 pair from 1 line (source: column 2); no malformed lines"
    )


def test_only_the_first_line_numbers_are_kept_but_all_are_counted(tmp_path):
    lines = [b"Go.\tVa !"] + [b"no tab"] * (MAX_REPORTED_LINES + 3)
    corpus = read_pairs(write(tmp_path / "many.txt", lines))
    assert corpus.skipped == {"no_tab": MAX_REPORTED_LINES + 3}
    assert corpus.skipped_lines == {"no_tab": list(range(2, MAX_REPORTED_LINES + 2))}
    assert f"{MAX_REPORTED_LINES + 3} without a tab (lines 2, 3, 4, 5, 6, ...)" in (
        corpus.summary()
    )


def test_reverse_swaps_source_and_target(mixed):
    forward, backward = read_pairs(mixed), read_pairs(mixed, reverse=True)
    assert backward.sources == forward.targets
    assert backward.targets == forward.sources
    assert backward.reverse is True
    assert backward.skipped == forward.skipped


@pytest.mark.parametrize("name", ["pairs.txt.gz", "pairs.txt", "pairs"])
def test_gzip_detected_from_its_bytes_whatever_the_name(tmp_path, name):
    plain = read_pairs(write(tmp_path / "plain.txt", MIXED_LINES))
    packed = read_pairs(write(tmp_path / name, MIXED_LINES, compress=True))
    assert list(packed) == list(plain)
    assert packed.line_numbers == plain.line_numbers
    assert packed.skipped_lines == plain.skipped_lines


def test_plain_text_named_gz_is_read_as_text(tmp_path):
    corpus = read_pairs(write(tmp_path / "plain.gz", [b"Go.\tVa !"]))
    assert list(corpus) == [("Go.", "Va !")]


def test_sha256_is_of_the_uncompressed_text(tmp_path):
    text = b"Go.\tVa !\nHi.\tSalut !\n"
    (tmp_path / "a.txt").write_bytes(text)
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(text))
    expected = hashlib.sha256(text).hexdigest()
    assert read_pairs(tmp_path / "a.txt").sha256 == expected
    assert read_pairs(tmp_path / "a.txt.gz").sha256 == expected


def test_crlf_bom_and_missing_final_newline(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbfGo.\tVa !\r\nHi.\tSalut !\r\nRun!\tCours !")
    corpus = read_pairs(path)
    assert list(corpus) == [("Go.", "Va !"), ("Hi.", "Salut !"), ("Run!", "Cours !")]
    assert corpus.skipped == {}


def test_third_column_is_ignored_even_with_tabs_around_it(tmp_path):
    path = write(tmp_path / "three.txt", [f"Hi.\tSalut.\t{ATTRIBUTION}".encode()])
    assert list(read_pairs(path)) == [("Hi.", "Salut.")]


def test_no_valid_pair_raises_naming_the_file(tmp_path):
    path = write(tmp_path / "bad.txt", [b"no tab", b"", b"\tx"])
    with pytest.raises(ValueError, match=r"No valid sentence pair in .*bad\.txt"):
        read_pairs(path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt"):
        read_pairs(empty)


def test_missing_file_raises_file_not_found_with_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "pairs.txt"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_pairs(missing)
    with pytest.raises(FileNotFoundError):
        read_pairs(tmp_path)  # a directory is not a corpus file


def test_normalize_text():
    assert normalize_text("Cours\u202f!") == "Cours !"
    assert normalize_text("Quoi\u00a0?\u2009Non\u00a0!") == "Quoi ? Non !"
    assert normalize_text("\tA  \n b ") == "A b"
    # Case and accents are kept; compatibility characters are unfolded.
    assert normalize_text("Élève ÇA \ufb01n\u2026") == "Élève ÇA fin..."
    # Decomposed accents are composed (NFKC).
    assert normalize_text("e\u0301te\u0301") == "été"


def test_subset_keeps_line_numbers():
    pairs = SentencePairs(("a", "b", "c"), ("A", "B", "C"), (2, 5, 9))
    part = pairs.subset([2, 0])
    assert type(part) is SentencePairs
    assert list(part) == [("c", "C"), ("a", "A")]
    assert part.line_numbers == (9, 2)


def test_sentence_pairs_lengths_must_match():
    with pytest.raises(ValueError, match="same length"):
        SentencePairs(("a",), ("A", "B"), (1,))


def test_bundled_corpus_reads_cleanly():
    path = default_corpus_path()
    assert path.is_file()
    corpus = read_pairs(path)
    assert isinstance(corpus, Corpus)
    assert len(corpus) == 167_130
    assert corpus.skipped == {}
    # The hash of the text given in the data README.
    assert corpus.sha256 == (
        "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104"
    )
    assert corpus.sources[2] == "Run!"
    assert corpus.targets[2] == "Cours !"  # U+202F became a space
    assert not any("\u202f" in t or "\u00a0" in t for t in corpus.targets)


def test_bundled_corpus_ships_licence_and_attribution():
    data = pathlib.Path(default_corpus_path()).parent
    readme = (data / "README.md").read_text(encoding="utf-8")
    assert (
        "Sentence pairs from the Tatoeba Project (tatoeba.org), CC BY 2.0 FR, "
        "via manythings.org/anki." in readme
    )
    assert "MIT" in readme
    assert "NFKC" in readme
    about = (data / "fra-eng_about.txt").read_bytes()
    assert hashlib.sha256(about).hexdigest() == (
        "79f39a53dbddaf7ab43c801f231089174a611f23987244056f9e3cb5aa79358b"
    )
