"""Registration of the package's Keras classes, deferred until Keras is
imported.

`keras.models.load_model` finds a custom class only once the module that
defines it has run its `register_keras_serializable` decorator. Importing
those modules imports Keras, which fixes the backend, so `import
keras_seq2seq` does not: it installs an import hook that imports them right
after Keras itself is imported (at once if it already is). Programs that
import Keras then load saved models without importing anything else, and
the command line can still choose the backend first.

The `keras_seq2seq.seq2seq` namespace (the tensorflow_addons API) is left to
load when it is used; its classes register then.
"""

import importlib
import importlib.abc
import importlib.util
import sys

# The modules that register the Keras classes of the package (layers,
# attention mechanisms, the translation model, its loss and optimizer).
SERIALIZABLE_MODULES = (
    "keras_seq2seq.attention",
    "keras_seq2seq.layers",
    "keras_seq2seq.losses",
    "keras_seq2seq.optimizers",
    "keras_seq2seq.translate.model",
)


def register():
    """Imports `SERIALIZABLE_MODULES` (and with them, Keras)."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def register_when_keras_is_imported():
    """Calls `register` now if Keras is imported, else once it is."""
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(finder, _ImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook())


class _ImportHook(importlib.abc.MetaPathFinder):
    """Finds `keras` and this package's modules as the other finders do,
    their loaders wrapped to call `register` once Keras has been imported
    and no module of this package is still executing (one of them may be
    what imports Keras, and `register` imports modules that need it)."""

    def __init__(self):
        self.executing = 0
        self.keras_imported = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith("keras_seq2seq."):
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader, self, fullname == "keras")
                return spec
        return None

    def executed(self, keras):
        self.keras_imported = self.keras_imported or keras
        if self.keras_imported and not self.executing and self in sys.meta_path:
            sys.meta_path.remove(self)
            register()


class _Loader(importlib.abc.Loader):
    def __init__(self, loader, hook, keras):
        self._loader, self._hook, self._keras = loader, hook, keras

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._hook.executing += not self._keras
        try:
            self._loader.exec_module(module)
        finally:
            self._hook.executing -= not self._keras
        self._hook.executed(self._keras)

    def __getattr__(self, name):
        # The wrapped loader's other methods (`get_source`, resources).
        return getattr(self._loader, name)
