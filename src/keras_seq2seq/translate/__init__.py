"""The translation pipeline: corpus reading, splitting, subword tokenisation
and batching (the data layer)."""

from keras_seq2seq.translate.batching import BucketedBatches
from keras_seq2seq.translate.corpus import (
    Corpus,
    SentencePairs,
    default_corpus_path,
    normalize_text,
    read_pairs,
)
from keras_seq2seq.translate.split import Split, load_split, split_corpus
from keras_seq2seq.translate.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    SubwordTokenizer,
)

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "PAD_ID",
    "UNK_ID",
    "BucketedBatches",
    "Corpus",
    "SentencePairs",
    "Split",
    "SubwordTokenizer",
    "default_corpus_path",
    "load_split",
    "normalize_text",
    "read_pairs",
    "split_corpus",
]
