"""The process environment the command line runs in: the Keras backend and
the defaults set before Keras is imported.

The backend is chosen as Keras chooses it (`KERAS_BACKEND`, else the
`"backend"` of `keras.json` in `$KERAS_HOME` or `~/.keras`), except that
where neither names one, the command line uses `DEFAULT_BACKEND` (where it
is installed) rather than Keras' TensorFlow.
"""

import importlib.util
import json
import os
import sys

DEFAULT_BACKEND = "jax"
# The backends the library supports -> the package each needs.
BACKENDS = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}


class BackendError(Exception):
    """The backend asked for is unknown or not installed."""


def keras_json_backend():
    """The backend `keras.json` names, or None (no file, no key, bad JSON:
    Keras then ignores it too)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    path = os.path.join(os.path.expanduser(home), "keras.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    return config.get("backend") if isinstance(config, dict) else None


def choose_backend():
    """Sets `KERAS_BACKEND` for this process and returns it.

    Keras already imported: its backend. Raises `BackendError` for a backend
    the library does not support or that is not installed.
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    backend, source = os.environ.get("KERAS_BACKEND"), "KERAS_BACKEND"
    if not backend:
        backend, source = keras_json_backend(), "keras.json"
    if not backend:
        backend, source = DEFAULT_BACKEND, "the default"
        if importlib.util.find_spec(BACKENDS[backend]) is None:
            backend, source = "tensorflow", "Keras' default"
    if backend not in BACKENDS:
        raise BackendError(
            f"unknown Keras backend {backend!r} (from {source}); expected one of "
            f"{', '.join(BACKENDS)}"
        )
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        raise BackendError(
            f"the Keras backend {backend!r} (from {source}) is not installed: "
            f"pip install 'keras-seq2seq[{backend}]', or set KERAS_BACKEND to "
            "an installed one"
        )
    os.environ["KERAS_BACKEND"] = backend
    return backend


def set_defaults():
    """Environment defaults the user has not set: TensorFlow's C++ log
    level 2 (warnings and errors only) and, on JAX, a persistent compilation
    cache in `~/.cache/keras-seq2seq/jax` (`$XDG_CACHE_HOME` if set), so a
    second `translate` or a resumed `train` does not compile the same
    programs again. They take effect only before Keras (or JAX) is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("KERAS_BACKEND") == "jax":
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        os.environ.setdefault(
            "JAX_COMPILATION_CACHE_DIR", os.path.join(cache, "keras-seq2seq", "jax")
        )
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
