"""The few places where a Keras backend needs its own line.

`scan` loads on first use, so the modules here that need no Keras
(`glibc_malloc`) import without it.
"""

__all__ = ["scan"]


def __getattr__(name):
    if name != "scan":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from keras_seq2seq.backend.scan import scan

    return scan
