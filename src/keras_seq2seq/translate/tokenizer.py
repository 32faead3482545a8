"""A subword tokenizer over SentencePiece, one per language.

The translation pipeline trains one tokenizer for the source side and one for
the target side, on the training split only: each language gets its whole
vocabulary (8,000 pieces by default), which suits small vocabularies better
than a joint one. Special ids are fixed: `PAD_ID = 0`, `UNK_ID = 1`,
`BOS_ID = 2`, `EOS_ID = 3`.
"""

import io
import numbers
import pathlib
import re

import sentencepiece

from keras_seq2seq.translate.corpus import normalize_text

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3


class SubwordTokenizer:
    """SentencePiece subword tokenizer with fixed special ids.

    Text is normalised with `normalize_text` (the corpus reader's
    normalisation) before SentencePiece sees it; SentencePiece's own
    normalisation is off ("identity"), so for any normalised sentence made of
    characters seen in training, `decode(encode([s])) == [s]`. Characters never
    seen in training encode to `unk_id` and decode to "⁇".

    Build one with `SubwordTokenizer.train(...)` or `SubwordTokenizer.load(...)`.

    Attributes:
        pad_id, unk_id, bos_id, eos_id: 0, 1, 2, 3.
        vocab_size: the number of pieces, special ones included.

    Example:
    >>> sentences = ["Hello world.", "Hello there.", "A world of words."] * 20
    >>> tokenizer = SubwordTokenizer.train(sentences, vocab_size=20)
    >>> ids = tokenizer.encode(["Hello\\u00a0  world."])
    >>> tokenizer.decode(ids)
    ['Hello world.']
    >>> tokenizer.vocab_size, tokenizer.pad_id, tokenizer.eos_id
    (20, 0, 3)
    """

    pad_id = PAD_ID
    unk_id = UNK_ID
    bos_id = BOS_ID
    eos_id = EOS_ID

    def __init__(self, model_proto):
        """Wraps a serialised SentencePiece model (bytes); see `train` and `load`."""
        self._model_proto = bytes(model_proto)
        self._processor = sentencepiece.SentencePieceProcessor(
            model_proto=self._model_proto
        )
        specials = [
            self._processor.pad_id(),
            self._processor.unk_id(),
            self._processor.bos_id(),
            self._processor.eos_id(),
        ]
        if specials != [PAD_ID, UNK_ID, BOS_ID, EOS_ID]:
            raise ValueError(
                "The SentencePiece model must use pad, unk, bos, eos ids "
                f"{[PAD_ID, UNK_ID, BOS_ID, EOS_ID]}. Received: {specials}"
            )

    @classmethod
    def train(
        cls,
        sentences,
        vocab_size=8000,
        model_type="unigram",
        character_coverage=1.0,
        num_threads=1,
    ):
        """Trains a tokenizer in memory from an iterable of sentences.

        Training is deterministic: the same sentences in the same order with
        the same `num_threads` give the same model (the unigram trainer's
        result depends on how its work is split between threads, so the
        default is one thread: about 3 s for 160,000 English sentences).
        SentencePiece's own log messages are silenced.

        Args:
            sentences: iterable of str; normalised with `normalize_text`,
                blank ones ignored. Use the training split only.
            vocab_size: int, the exact number of pieces, the 4 special ones
                included.
            model_type: "unigram" (default) or "bpe".
            character_coverage: float in (0, 1]; the share of characters that
                get their own piece. 1.0 keeps every character (right for
                alphabetic languages).
            num_threads: int >= 1, SentencePiece trainer threads.

        Raises:
            ValueError: no sentence, an invalid argument, or a `vocab_size`
                that the text cannot fill (the message gives the largest
                possible) or that cannot hold its characters.
        """
        for name, value in (("vocab_size", vocab_size), ("num_threads", num_threads)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(
                    f"`{name}` must be an integer. Received: {name}={value!r}"
                )
        if num_threads < 1:
            raise ValueError(f"`num_threads` must be >= 1. Received: {num_threads}")
        if model_type not in ("unigram", "bpe"):
            raise ValueError(
                "`model_type` must be 'unigram' or 'bpe'. "
                f"Received: model_type={model_type!r}"
            )
        if not 0.0 < character_coverage <= 1.0:
            raise ValueError(
                "`character_coverage` must be in (0, 1]. "
                f"Received: character_coverage={character_coverage}"
            )
        texts = [text for text in map(normalize_text, sentences) if text]
        if not texts:
            raise ValueError("`sentences` holds no non-blank sentence to train on.")

        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(texts),
                model_writer=model,
                vocab_size=int(vocab_size),
                model_type=model_type,
                character_coverage=character_coverage,
                normalization_rule_name="identity",
                pad_id=PAD_ID,
                unk_id=UNK_ID,
                bos_id=BOS_ID,
                eos_id=EOS_ID,
                num_threads=int(num_threads),
                minloglevel=2,
            )
        except RuntimeError as error:
            raise _vocab_size_error(vocab_size, len(texts), error) from error
        return cls(model.getvalue())

    @property
    def model_proto(self):
        """The serialised SentencePiece model (bytes)."""
        return self._model_proto

    @property
    def vocab_size(self):
        return self._processor.get_piece_size()

    def encode(self, sentences):
        """Token ids of each sentence (normalised first), without bos or eos.

        Args:
            sentences: list of str.

        Returns:
            list of lists of int.
        """
        texts = [normalize_text(text) for text in _check_list("sentences", sentences)]
        return self._processor.encode(texts, out_type=int)

    def decode(self, ids):
        """Detokenised text of each id sequence.

        Each sequence ends at its first `eos_id`; `pad_id` and `bos_id` are
        left out, so a padded model output decodes as it is. Whitespace is
        collapsed, as in `normalize_text` (SentencePiece writes `unk_id` as
        " ⁇ ").

        Args:
            ids: a list of int sequences, or a 2-D integer array.

        Returns:
            list of str.
        """
        sequences = []
        for sequence in _check_list("ids", ids):
            kept = []
            for token in (int(t) for t in sequence):
                if token == EOS_ID:
                    break
                if token not in (PAD_ID, BOS_ID):
                    kept.append(token)
            sequences.append(kept)
        return [" ".join(text.split()) for text in self._processor.decode(sequences)]

    def id_to_piece(self, ids):
        """The pieces of one id sequence, e.g. to label an attention plot.

        Example:
        >>> tokenizer = SubwordTokenizer.train(["ab ab ba"] * 10, vocab_size=7)
        >>> tokenizer.id_to_piece([0, 1, 2, 3])
        ['<pad>', '<unk>', '<s>', '</s>']
        """
        return [self._processor.id_to_piece(int(token)) for token in ids]

    def save(self, directory, name="tokenizer"):
        """Writes the model to `directory/{name}.model` (directory created if
        needed) and returns that path."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.model"
        path.write_bytes(self._model_proto)
        return path

    @classmethod
    def load(cls, directory, name="tokenizer"):
        """Reads a tokenizer written by `save(directory, name)`."""
        path = pathlib.Path(directory) / f"{name}.model"
        if not path.is_file():
            raise FileNotFoundError(f"No tokenizer model at '{path}'")
        try:
            return cls(path.read_bytes())
        except RuntimeError as error:
            raise ValueError(
                f"'{path}' is not a SentencePiece model: {error}"
            ) from error

    def __eq__(self, other):
        if not isinstance(other, SubwordTokenizer):
            return NotImplemented
        return self._model_proto == other._model_proto

    __hash__ = None

    def __repr__(self):
        return f"SubwordTokenizer(vocab_size={self.vocab_size})"


def _check_list(name, value):
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"`{name}` must be a list of sentences or sequences, not a single "
            f"{type(value).__name__}. Received: {name}={value!r}"
        )
    return value


def _vocab_size_error(vocab_size, num_sentences, error):
    """A ValueError for SentencePiece's vocabulary-size failures."""
    message = str(error)
    too_high = re.search(r"Vocabulary size too high \((\d+)\).*?<= (\d+)", message)
    if too_high:
        return ValueError(
            f"`vocab_size` is more than the {num_sentences:,} sentences support: at "
            f"most {too_high.group(2)}. Received: vocab_size={vocab_size}"
        )
    too_small = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
    if too_small:
        return ValueError(
            f"`vocab_size` must be at least {too_small.group(2)} to hold every "
            "character of the text and the 4 special pieces (or lower "
            f"`character_coverage`). Received: vocab_size={vocab_size}"
        )
    return ValueError(f"SentencePiece training failed: {message}")
