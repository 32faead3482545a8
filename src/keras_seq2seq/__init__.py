"""keras-seq2seq: sequence-to-sequence models with attention for Keras 3.

Importing the package imports neither Keras nor a backend: its names load
on first use, and its Keras classes are registered for
`keras.models.load_model` as soon as Keras is imported (see
`keras_seq2seq.registration`), so a saved model loads after

>>> import keras_seq2seq
>>> keras_seq2seq.AttentionLayer.__name__
'AttentionLayer'
"""

import importlib

from keras_seq2seq import registration

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "AttentionCell": "keras_seq2seq.layers",
    "AttentionDecoder": "keras_seq2seq.layers",
    "AttentionLayer": "keras_seq2seq.layers",
    "AttentionMechanism": "keras_seq2seq.attention",
    "BahdanauAttention": "keras_seq2seq.attention",
    "BahdanauMonotonicAttention": "keras_seq2seq.attention",
    "LuongAttention": "keras_seq2seq.attention",
    "LuongMonotonicAttention": "keras_seq2seq.attention",
    "context": "keras_seq2seq.attention",
    "keep_freed_memory": "keras_seq2seq.backend.glibc_malloc",
    "hardmax": "keras_seq2seq.attention",
    "monotonic_attention": "keras_seq2seq.attention",
    "safe_cumprod": "keras_seq2seq.attention",
    "softmax": "keras_seq2seq.attention",
}
# Subpackages reachable as attributes (`keras_seq2seq.seq2seq.X`, as
# tensorflow_addons' `tfa.seq2seq.X`).
_SUBPACKAGES = ("attention", "decoding", "layers", "seq2seq", "translate")

__all__ = sorted([*_EXPORTS, "seq2seq"])


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})


registration.register_when_keras_is_imported()
