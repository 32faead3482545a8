"""Compiling a function of Keras layers for the active backend.

The one place where decoding entry points need a backend's own lines:

* JAX: `jax.jit` of a pure function. The Keras variables the function reads
  are passed in as arguments at every call (through `keras.StatelessScope`),
  so the compiled function sees the current weights, e.g. after more
  training, and no weight is baked into the program as a constant.
* TensorFlow: `tf.function` (graph mode; XLA only with `jit_compile=True`).
  Variables are read at run time.
* torch: the function itself, run under `torch.no_grad()` (inference only).

`training_jit_compile` picks the `jit_compile` that `Model.compile` gets for
training.
"""

import functools

import keras


def compile_function(fn, variables=(), jit_compile=None):
    """Returns `fn` compiled for the active Keras backend (see module docstring).

    Args:
        fn: a function of tensors (nested structures allowed) built on
            `keras.ops` and Keras layers. Bind Python values (lengths, token
            ids) beforehand, e.g. with `functools.partial`: on JAX every
            argument of the compiled function is traced.
        variables: the Keras variables `fn` reads, or a built layer or model
            whose `variables` are taken when compiling. Used on JAX only: a
            variable left out is baked in as a constant, and none may be
            created inside `fn` (build the layers first).
        jit_compile: TensorFlow only: compile the graph with XLA (default
            False: decode loops with data-dependent lengths run as graphs).

    Returns:
        A function with the arguments and results of `fn`.

    Example:
    >>> layer = keras.layers.Dense(2, kernel_initializer="ones")
    >>> layer.build((None, 3))
    >>> run = compile_function(lambda x: layer(x), layer)
    >>> keras.ops.convert_to_numpy(run(keras.ops.ones((1, 3)))).tolist()
    [[3.0, 3.0]]
    """
    backend = keras.backend.backend()
    if backend == "jax":
        if isinstance(variables, keras.layers.Layer):
            if not variables.built:
                raise ValueError(
                    "compile_function needs the variables to exist before "
                    f"compiling: build the layer first. Received: variables="
                    f"an unbuilt {type(variables).__name__} '{variables.name}'"
                )
            variables = variables.variables
        return _jax_compile(fn, list(variables))
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(
            fn, jit_compile=bool(jit_compile), reduce_retracing=True, autograph=False
        )
    if backend == "torch":
        import torch

        @functools.wraps(fn)
        def without_gradients(*args, **kwargs):
            with torch.no_grad():
                return fn(*args, **kwargs)

        return without_gradients
    return fn


def training_jit_compile(distributed=False):
    """The `jit_compile` argument of `Model.compile` for training.

    Keras' `"auto"`, except on TensorFlow without a distribution strategy,
    which gets `True`: `"auto"` turns XLA off there on machines without an
    accelerator, where the translation model then trains several times slower
    (`benchmarks/pipeline_step.py --jit auto`). Under `tf.distribute` the
    choice is left to Keras.

    Example:
    >>> training_jit_compile(distributed=True)
    'auto'
    """
    if keras.backend.backend() == "tensorflow" and not distributed:
        return True
    return "auto"


def _jax_compile(fn, variables):
    import jax

    def pure(values, args, kwargs):
        mapping = list(zip(variables, values))
        with keras.StatelessScope(state_mapping=mapping):
            return fn(*args, **kwargs)

    jitted = jax.jit(pure)

    @functools.wraps(fn)
    def compiled(*args, **kwargs):
        return jitted([variable.value for variable in variables], args, kwargs)

    return compiled
