"""Data parallelism on the engines Keras already has: the backend's own lines.

* JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`
  (GPUs or TPUs, else CPUs; every process's devices after
  `keras.distribution.initialize`). Variables are replicated, each batch is
  split along its rows and the train step is one SPMD program (`jax.jit`), so
  the loss and its gradient are those of the whole global batch.
* TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs or, with
  none, every logical CPU device. Each replica runs the step on its rows and
  the gradients are summed across replicas.
* torch, numpy: released Keras has no `keras.distribution` support for them,
  so `data_parallel_engine` raises an error naming the backend.

The translation module calls only the functions here; none of them imports a
backend unless that backend is active.
"""

import weakref

import keras
import numpy as np
from keras import tree

SUPPORTED_BACKENDS = ("jax", "tensorflow")
_TF_RUNNERS = weakref.WeakKeyDictionary()
_ENGINES = {}


def data_parallel_engine():
    """The active backend's data-parallel engine over every device, made once
    per process and then reused (on TensorFlow a model stays tied to the
    strategy it was created under, so every scope must use the same one).

    Returns:
        `keras.distribution.DataParallel` (JAX, `auto_shard_dataset=False`:
        the data layer gives each process its own rows) or
        `tf.distribute.MirroredStrategy` (TensorFlow). Both have a `scope()`.

    Raises:
        ValueError: on another backend.
    """
    backend = keras.backend.backend()
    if backend not in _ENGINES:
        _ENGINES[backend] = _make_engine(backend)
    return _ENGINES[backend]


def _make_engine(backend):
    if backend == "jax":
        return keras.distribution.DataParallel(
            devices=keras.distribution.list_devices(), auto_shard_dataset=False
        )
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU")
        if devices:
            return tf.distribute.MirroredStrategy([d.name for d in devices])
        # CPU devices only: TensorFlow would all-reduce with RING collectives,
        # whose gathers of the embeddings' sparse gradients (IndexedSlices)
        # are not ordered across replicas and can pair up mismatched tensors
        # ("Shape mismatch in the collective instance"). Reducing on one
        # device has no such race.
        devices = tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(
            [d.name for d in devices],
            cross_device_ops=tf.distribute.ReductionToOneDevice(),
        )
    raise ValueError(
        "Data-parallel training needs the 'jax' backend (keras.distribution) "
        "or the 'tensorflow' backend (tf.distribute.MirroredStrategy): "
        f"released Keras has no keras.distribution support for the {backend!r} "
        f"backend. Received: KERAS_BACKEND={backend!r}"
    )


def engine_in_effect():
    """The data-parallel engine in effect (a `keras.distribution.Distribution`
    on JAX, a `tf.distribute.Strategy` scope on TensorFlow), or None.

    Example:
    >>> engine_in_effect() is None
    True
    """
    backend = keras.backend.backend()
    if backend == "jax":
        return keras.distribution.distribution()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    return None


def replica_count(engine=None):
    """Model replicas (groups of devices the batch rows are split over) of
    `engine`, default the one in effect; 1 without one.

    Example:
    >>> replica_count()
    1
    """
    engine = engine_in_effect() if engine is None else engine
    if engine is None:
        return 1
    if keras.backend.backend() == "jax":
        return int(engine.num_model_replicas)
    return int(engine.num_replicas_in_sync)


def process_shard(engine=None):
    """`(index, count)`: this process among those that feed one global batch.

    JAX after `keras.distribution.initialize` with several processes: each
    process feeds the rows of its own devices. Otherwise `(0, 1)`.

    Example:
    >>> process_shard()
    (0, 1)
    """
    engine = engine_in_effect() if engine is None else engine
    jax = keras.backend.backend() == "jax"
    if jax and engine is not None and engine.num_processes > 1:
        return int(engine.data_shard_id), int(engine.num_processes)
    return 0, 1


def clips_per_replica(optimizer):
    """Whether `optimizer`'s gradient clipping (`clipnorm`, `global_clipnorm`,
    `clipvalue`) would apply to each replica's share of the gradient instead
    of the whole gradient: on TensorFlow under a strategy with several
    replicas, where Keras (3.15) clips before summing the replicas' gradients.
    JAX computes and clips the global gradient.

    Example:
    >>> clips_per_replica(keras.optimizers.Adam(clipnorm=1.0))
    False
    """
    if keras.backend.backend() != "tensorflow" or replica_count() == 1:
        return False
    names = ("clipnorm", "global_clipnorm", "clipvalue")
    return any(getattr(optimizer, name, None) is not None for name in names)


def split_call(fn, inputs):
    """Runs `fn(*inputs)` with the rows of `inputs` split over the replicas.

    Args:
        fn: a function of tensors whose results keep one row per input row
            (e.g. a compiled `Translator` decoding function).
        inputs: a tuple of arrays whose row count is a multiple of
            `replica_count()`.

    Returns:
        A list of NumPy results (same structure as `fn`'s), one per group of
        consecutive rows, in row order: JAX gives one, already global (the
        arrays are sharded along their rows and `fn` runs as one SPMD
        program); TensorFlow one per replica (`strategy.run`). Without an
        engine, `[fn(*inputs)]`.
    """
    backend = keras.backend.backend()
    replicas = replica_count()
    if replicas == 1:
        return [tree.map_structure(keras.ops.convert_to_numpy, fn(*inputs))]
    if backend == "jax":
        distribution = keras.distribution.distribution()
        if distribution.num_processes > 1:
            raise ValueError(
                "Split decoding runs in one process: with "
                f"{distribution.num_processes} processes, decode each process's "
                "part of the test set on its own devices, outside the distribution "
                "scope. Received: num_processes="
                f"{distribution.num_processes}"
            )
        sharded = tuple(
            keras.distribution.distribute_tensor(
                x, distribution.get_data_layout(np.shape(x))
            )
            for x in inputs
        )
        return [tree.map_structure(keras.ops.convert_to_numpy, fn(*sharded))]
    return _tf_split_call(fn, inputs, replicas)


def _tf_split_call(fn, inputs, replicas):
    import tensorflow as tf

    strategy = engine_in_effect()
    rows = np.shape(inputs[0])[0] // replicas

    def shard(context):
        start = context.replica_id_in_sync_group * rows
        return tuple(tf.convert_to_tensor(x[start : start + rows]) for x in inputs)

    per_replica = strategy.experimental_distribute_values_from_function(shard)
    outputs = _tf_runner(fn, strategy)(per_replica)
    local = [
        strategy.experimental_local_results(leaf) for leaf in tree.flatten(outputs)
    ]
    return [
        tree.pack_sequence_as(outputs, [np.asarray(leaf[r]) for leaf in local])
        for r in range(replicas)
    ]


def _tf_runner(fn, strategy):
    """`tf.function` of `strategy.run(fn, ...)`, kept per `fn` while `fn`
    lives, so it is traced once per input shape, not at every call."""
    import tensorflow as tf

    try:
        cached = _TF_RUNNERS.get(fn)
    except TypeError:  # not weakly referable: no cache
        return tf.function(lambda args: strategy.run(fn, args=args))
    if cached is None or cached[0] is not strategy:
        target = weakref.ref(fn)  # the cache must not keep `fn` alive
        runner = tf.function(lambda args: strategy.run(target(), args=args))
        cached = _TF_RUNNERS[fn] = (strategy, runner)
    return cached[1]
