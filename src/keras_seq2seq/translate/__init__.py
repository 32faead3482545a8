"""The translation pipeline: corpus reading, splitting, subword tokenisation
and batching (the data layer); training, loading, translating and evaluating
a model (`train`, `load`, `evaluate`)."""

from keras_seq2seq.translate.batching import BucketedBatches
from keras_seq2seq.translate.corpus import (
    Corpus,
    SentencePairs,
    default_corpus_path,
    normalize_text,
    read_pairs,
)
from keras_seq2seq.translate.errors import PipelineError
from keras_seq2seq.translate.evaluation import evaluate
from keras_seq2seq.translate.inference import AttentionMap, TrainedTranslator, load
from keras_seq2seq.translate.split import Split, load_split, split_corpus
from keras_seq2seq.translate.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    SubwordTokenizer,
)
from keras_seq2seq.translate.training import train

__all__ = [
    "AttentionMap",
    "BOS_ID",
    "EOS_ID",
    "PAD_ID",
    "UNK_ID",
    "BucketedBatches",
    "Corpus",
    "PipelineError",
    "SentencePairs",
    "Split",
    "SubwordTokenizer",
    "TrainedTranslator",
    "default_corpus_path",
    "evaluate",
    "load",
    "load_split",
    "normalize_text",
    "read_pairs",
    "split_corpus",
    "train",
]
