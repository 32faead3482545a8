"""Serving a trained translator over HTTP: a JSON API with dynamic batching
and a web page that shows each translation's attention.

Example (a model directory written by `keras_seq2seq.translate.train`):
    from keras_seq2seq.serve import serve
    serve("run/model", port=8000)  # then open http://127.0.0.1:8000/

Needs the `serve` extra (`pip install keras-seq2seq[serve]`).
"""

from keras_seq2seq.serve.requests import ApiError, Limits

__all__ = ["ApiError", "Limits", "create_app", "serve"]


def __getattr__(name):
    # The web stack loads on first use: the command line reads `Limits`
    # for its flags without it.
    if name in ("create_app", "serve"):
        from keras_seq2seq.serve import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
