"""The translation pipeline: corpus reading, splitting, subword tokenisation
and batching (the data layer); training, loading, translating and evaluating
a model (`train`, `load`, `evaluate`), configured by `TrainingConfig`.

Names load on first use, so the configuration and the errors are at hand
without importing Keras:

>>> from keras_seq2seq.translate import TrainingConfig
>>> TrainingConfig().vocab_size
8000
"""

import importlib

# Public name -> the module of this package that defines it.
_EXPORTS = {
    "AttentionMap": "inference",
    "BOS_ID": "tokenizer",
    "EOS_ID": "tokenizer",
    "Hypothesis": "inference",
    "PAD_ID": "tokenizer",
    "UNK_ID": "tokenizer",
    "BucketedBatches": "batching",
    "Corpus": "corpus",
    "PipelineError": "errors",
    "Sampling": "model",
    "SentencePairs": "corpus",
    "Split": "split",
    "SubwordTokenizer": "tokenizer",
    "TrainedTranslator": "inference",
    "TrainingConfig": "config",
    "default_corpus_path": "corpus",
    "demo": "demo",
    "evaluate": "evaluation",
    "export_translator": "export",
    "load": "inference",
    "load_split": "split",
    "normalize_text": "corpus",
    "read_pairs": "corpus",
    "split_corpus": "split",
    "train": "training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS})
