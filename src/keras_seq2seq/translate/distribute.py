"""Training and decoding on every local device (data parallelism), and a
vocabulary-sharded layout for large vocabularies (model parallelism).

The engines are Keras's and TensorFlow's own: `keras.distribution` on JAX,
`tf.distribute.MirroredStrategy` on TensorFlow (see
`keras_seq2seq.backend.distribute`, the only module with backend lines).
Released Keras has no `keras.distribution` support for torch: `data_parallel`
raises an error there. See `docs/scaling.md`.

Typical use (the batch rows are split over the devices; `fit` does the rest):

```python
with data_parallel("data") as replicas:
    batches = BucketedBatches(sources, targets, batch_size=64,
                              batch_multiple=global_batch_multiple())
    model = Translator(vocab, vocab)
    model.compile(optimizer="adam", loss=token_mean_loss())
    model.fit(GlobalBatches(batches), epochs=10, shuffle=False)
    translate = split_over_replicas(model.make_translate_function(50, 2, 3))
```
"""

import math
import os

import keras
import numpy as np
from keras import tree

from keras_seq2seq.backend import distribute as backend_distribute
from keras_seq2seq.losses import LabelSmoothedCrossentropy
from keras_seq2seq.validation import check_positive_int

KINDS = ("none", "data")
# What `keras.distribution.initialize()` reads for a multi-process run.
ENVIRONMENT_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


class ReplicaScope:
    """What `data_parallel` returns: a context manager that puts its engine
    in effect, and the numbers the data layer needs.

    Attributes:
        kind: `"none"` or `"data"`.
        engine: `keras.distribution.DataParallel` (JAX),
            `tf.distribute.MirroredStrategy` (TensorFlow), or None (`"none"`).
        num_replicas: devices each global batch is split over (1 for
            `"none"`).
        process_index, num_processes: this process and how many feed each
            global batch (several only on JAX after
            `keras.distribution.initialize`).
    """

    def __init__(self, kind, engine):
        self.kind = kind
        self.engine = engine
        self.num_replicas = (
            1 if engine is None else backend_distribute.replica_count(engine)
        )
        self.process_index, self.num_processes = (
            (0, 1) if engine is None else backend_distribute.process_shard(engine)
        )
        self._scopes = []

    def __enter__(self):
        if self.engine is not None:
            scope = self.engine.scope()
            scope.__enter__()
            self._scopes.append(scope)
        return self

    def __exit__(self, *exc_info):
        if self.engine is not None:
            return self._scopes.pop().__exit__(*exc_info)
        return None

    def __repr__(self):
        return (
            f"<ReplicaScope kind={self.kind!r} backend="
            f"{keras.backend.backend()!r} num_replicas={self.num_replicas} "
            f"process {self.process_index} of {self.num_processes}>"
        )


def data_parallel(kind="data"):
    """A context for data-parallel training and decoding on all devices.

    Create the model, compile, fit, evaluate, save and decode inside the
    `with` block: variables made there are replicated on every device, and
    each batch's rows are split over them. `"none"` (or None) gives a scope
    that does nothing, so one code path serves both.

    * JAX: `keras.distribution.DataParallel` over
      `keras.distribution.list_devices()` (every process's after
      `keras.distribution.initialize`), with `auto_shard_dataset=False`:
      `GlobalBatches` gives each process its own rows.
    * TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs, or
      every logical CPU device when there is no GPU. One process (multi-worker
      training is not wired in).

    Args:
        kind: `"data"`, or `"none"`/None for a single device.

    Returns:
        A `ReplicaScope`.

    Raises:
        ValueError: for another `kind`, or `"data"` on a backend other than
            JAX or TensorFlow (torch: released Keras has no
            `keras.distribution` support for it).

    Example:
    >>> with data_parallel("none") as replicas:
    ...     replicas.num_replicas
    1
    """
    if kind is None:
        kind = "none"
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    engine = None if kind == "none" else backend_distribute.data_parallel_engine()
    return ReplicaScope(kind, engine)


def initialize_from_environment():
    """Joins a multi-process (multi-host) JAX run when the launcher set
    `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES` and
    `KERAS_DISTRIBUTION_PROCESS_ID`; does nothing when none is set.

    Call it first, before any model or data is made
    (`keras.distribution.initialize()` reads the variables).

    Returns:
        True if it joined a run, False if no variable is set.

    Raises:
        ValueError: if a variable is set on a backend other than JAX.

    Example:
    >>> initialize_from_environment()  # no KERAS_DISTRIBUTION_* variable here
    False
    """
    given = [name for name in ENVIRONMENT_VARIABLES if os.environ.get(name)]
    if not given:
        return False
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            "Multi-process training through keras.distribution.initialize needs "
            f"the 'jax' backend. Received: KERAS_BACKEND={backend!r} with "
            f"{', '.join(given)} set"
        )
    keras.distribution.initialize()
    return True


def global_batch_multiple():
    """The device count each global batch's row count must be a multiple of:
    the replicas of the engine in effect, 1 without one.

    Pass it to `BucketedBatches(batch_multiple=...)` inside the
    `data_parallel` block.

    Example:
    >>> global_batch_multiple()
    1
    """
    return backend_distribute.replica_count()


def token_mean_loss(label_smoothing=0.0):
    """The loss to compile with when the data is `GlobalBatches`: the
    cross-entropy of the target ids against the logits, with
    `label_smoothing` (a `LabelSmoothedCrossentropy`, also without
    smoothing: on torch it is 2.2x faster than Keras' sparse cross-entropy
    on (64, 12, 5000) logits), reduced with `"sum_over_batch_size"`.

    With the sample weights that `GlobalBatches` rescales, this reduction is
    the mean over the real target tokens of the whole global batch on one
    device, under `keras.distribution` and under `tf.distribute` alike. (The
    per-replica `"mean_with_sample_weight"` is not: under `tf.distribute`
    each replica would average over its own tokens.)

    Args:
        label_smoothing: probability mass spread over the vocabulary, in
            [0, 1); 0 is `SparseCategoricalCrossentropy(from_logits=True)`'s
            value.

    Example:
    >>> token_mean_loss().reduction
    'sum_over_batch_size'
    >>> token_mean_loss(0.1).smoothing
    0.1
    """
    return LabelSmoothedCrossentropy(label_smoothing)


def gradient_clipping_warning(optimizer):
    """A warning to show when `optimizer` clips gradients per replica, or None.

    Under `tf.distribute` (TensorFlow, several replicas) Keras 3.15 applies
    `clipnorm`, `global_clipnorm` and `clipvalue` to each replica's share of
    the gradient before summing the shares, so clipping does not act as on
    one device (JAX clips the global gradient). Call it inside the
    `data_parallel` block.

    Example:
    >>> gradient_clipping_warning(keras.optimizers.Adam(clipnorm=1.0)) is None
    True
    """
    if not backend_distribute.clips_per_replica(optimizer):
        return None
    return (
        "gradient clipping under tf.distribute applies to each replica's share of "
        "the gradient, not to the whole gradient (Keras "
        f"{keras.__version__}): with {backend_distribute.replica_count()} "
        "replicas the clipped update can differ from one device's; train on the "
        "JAX backend for the single-device behaviour"
    )


class GlobalBatches(keras.utils.PyDataset):
    """Global batches ready for data parallelism: sample weights rescaled so
    that the loss is the mean over the real tokens of the whole batch, and,
    with several processes, only this process's rows.

    Each item of `batches` is `(inputs, targets, sample_weight)` (or
    `(inputs, targets)`, served as is). The weights are multiplied by
    `weight.size / weight.sum()` over the global batch, so a loss reduced
    with `"sum_over_batch_size"` (`token_mean_loss`) gives
    `sum(weight * loss) / sum(weight)` over the global batch, however the
    rows are split over replicas: each replica's share is divided by the
    global token count, not by its own. A batch whose weights are all zero
    keeps them.

    Build it inside the `data_parallel` block: the replica and process
    counts are read there. Epoch hooks go to `batches`, so
    `batches.epoch_callback()` keeps working. Pass `shuffle=False` to `fit`
    when `batches` shuffles itself.

    Args:
        batches: a `keras.utils.PyDataset` such as `BucketedBatches`.
        num_replicas: rows of every batch must be a multiple of it; default
            the engine in effect's replica count.
        process_index, num_processes: serve rows
            `[index * rows / count, (index + 1) * rows / count)` of each
            global batch; default this process among those of the engine in
            effect (`(0, 1)` in one process).

    Example:
    >>> import numpy as np
    >>> weight = np.array([[1, 1, 1, 1], [1, 0, 0, 0]], "float32")
    >>> data = GlobalBatches([((np.ones((2, 4)),), np.ones((2, 4)), weight)])
    >>> np.round(data[0][2].astype("float64"), 3).tolist()  # 5 real tokens of 8
    [[1.6, 1.6, 1.6, 1.6], [1.6, 0.0, 0.0, 0.0]]
    """

    def __init__(
        self, batches, num_replicas=None, process_index=None, num_processes=None
    ):
        super().__init__(
            workers=getattr(batches, "workers", 1),
            use_multiprocessing=getattr(batches, "use_multiprocessing", False),
            max_queue_size=getattr(batches, "max_queue_size", 10),
        )
        self.batches = batches
        if num_replicas is None:
            num_replicas = backend_distribute.replica_count()
        self.num_replicas = check_positive_int("num_replicas", num_replicas)
        default_index, default_count = backend_distribute.process_shard()
        self.num_processes = check_positive_int(
            "num_processes", default_count if num_processes is None else num_processes
        )
        index = default_index if process_index is None else process_index
        if (
            isinstance(index, bool)
            or not isinstance(index, (int, np.integer))
            or not 0 <= index < self.num_processes
        ):
            raise ValueError(
                f"`process_index` must be an int in [0, {self.num_processes}). "
                f"Received: process_index={index!r}"
            )
        self.process_index = int(index)

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        item = self.batches[index]
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise ValueError(
                "Each batch must be `(inputs, targets)` or `(inputs, targets, "
                f"sample_weight)`. Received: batch {index} of type "
                f"{type(item).__name__}"
                + (f" with {len(item)} items" if isinstance(item, tuple) else "")
            )
        rows = _row_count(item)
        multiple = math.lcm(self.num_replicas, self.num_processes)
        if rows % multiple:
            raise ValueError(
                f"Batch {index} has {rows} rows, not a multiple of the "
                f"{self.num_replicas} replicas and {self.num_processes} processes "
                "it is split over: build the batches with "
                "`BucketedBatches(batch_multiple=global_batch_multiple())`. "
                f"Received: rows={rows}, num_replicas={self.num_replicas}, "
                f"num_processes={self.num_processes}"
            )
        if len(item) == 3 and item[2] is not None:
            weight = np.asarray(item[2], np.float32)
            total = float(weight.sum(dtype=np.float64))
            if total > 0:
                weight = weight * np.float32(weight.size / total)
            item = (item[0], item[1], weight)
        if self.num_processes > 1:
            share = rows // self.num_processes
            start = self.process_index * share
            item = tree.map_structure(lambda x: x[start : start + share], item)
        return item

    def on_epoch_begin(self):
        if hasattr(self.batches, "on_epoch_begin"):
            self.batches.on_epoch_begin()

    def on_epoch_end(self):
        if hasattr(self.batches, "on_epoch_end"):
            self.batches.on_epoch_end()


def split_over_replicas(fn):
    """Wraps `fn(*arrays)` so that the rows of its inputs are split over the
    replicas of the engine in effect (one device: called as is).

    Meant for decoding a test set on every device: wrap a
    `Translator.make_translate_function(...)`. The row count need not be a
    multiple of the replicas: the last row is repeated and the copies' results
    dropped. Result arrays with a time axis (rank 2 and more) are padded with
    zeros along axis 1 to the longest replica's, then the rows are joined in
    order.

    Args:
        fn: a function of arrays `[rows, ...]` returning a structure (e.g. a
            `Translation`) of arrays with one row per input row.

    Returns:
        A function with `fn`'s arguments returning the same structure of
        NumPy arrays.

    Example:
    >>> import numpy as np
    >>> double = split_over_replicas(lambda x: {"twice": x * 2})
    >>> double(np.arange(3)[:, None])["twice"].tolist()
    [[0], [2], [4]]
    """

    def run(*inputs):
        if not inputs:
            raise ValueError("Give at least one input array. Received: no inputs")
        inputs = tuple(np.asarray(keras.ops.convert_to_numpy(x)) for x in inputs)
        rows = inputs[0].shape[0] if inputs[0].ndim else 0
        if not rows or any(x.ndim == 0 or x.shape[0] != rows for x in inputs):
            raise ValueError(
                "The inputs must have the same, non-zero number of rows. "
                f"Received: shapes {[x.shape for x in inputs]}"
            )
        replicas = backend_distribute.replica_count()
        padded = -(-rows // replicas) * replicas
        if padded != rows:
            inputs = tuple(
                np.concatenate([x, np.repeat(x[-1:], padded - rows, axis=0)])
                for x in inputs
            )
        parts = backend_distribute.split_call(fn, inputs)
        joined = _join_rows(parts)
        return tree.map_structure(lambda x: x[:rows], joined)

    return run


def translate_split(
    model,
    source_ids,
    max_length,
    bos_id,
    eos_id,
    beam_width=1,
    length_penalty=0.0,
    coverage_penalty=0.0,
):
    """Decodes a batch of sources with its rows split over the replicas.

    `model.make_translate_function(...)` (greedy for `beam_width=1`, else
    beam search) run through `split_over_replicas`.

    Args:
        model: a `Translator`.
        source_ids: int `[rows, source_time]`, padded with the model's
            `pad_id`.
        max_length, bos_id, eos_id, beam_width, length_penalty,
            coverage_penalty: as in `Translator.make_translate_function`.

    Returns:
        A `Translation` of NumPy arrays, rows in the order of `source_ids`.
    """
    translate = model.make_translate_function(
        max_length,
        bos_id,
        eos_id,
        beam_width=beam_width,
        length_penalty=length_penalty,
        coverage_penalty=coverage_penalty,
    )
    return split_over_replicas(translate)(np.asarray(source_ids, np.int32))


def vocab_parallel_layout(device_mesh, model_axis="model"):
    """A `keras.distribution.LayoutMap` sharding a `Translator`'s vocabulary
    over the `model_axis` of `device_mesh` (JAX).

    The two embedding tables are split along their vocabulary rows, the
    output projection's kernel and bias along their vocabulary columns; every
    other variable is replicated. Use it with
    `keras.distribution.ModelParallel(layout_map=..., batch_dim_name=...)`;
    the batch is split over the mesh's other axis. Each vocabulary size must
    be a multiple of the `model_axis` size.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh`.
        model_axis: the mesh axis the vocabulary is split over.

    Returns:
        A `keras.distribution.LayoutMap`.

    Example:
    >>> mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), ["cpu:0"])
    >>> layout = vocab_parallel_layout(mesh)
    >>> layout["translator/output_projection/kernel"].axes
    (None, 'model')
    >>> layout["translator/bridge_h/kernel"] is None
    True
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            "`device_mesh` must be a `keras.distribution.DeviceMesh`. "
            f"Received: device_mesh of type {type(device_mesh).__name__}"
        )
    if model_axis not in device_mesh.axis_names:
        raise ValueError(
            f"`model_axis` must be one of the mesh axes {tuple(device_mesh.axis_names)}. "
            f"Received: model_axis={model_axis!r}"
        )
    layout = keras.distribution.LayoutMap(device_mesh)
    layout[".*source_embedding/embeddings"] = (model_axis, None)
    layout[".*target_embedding/embeddings"] = (model_axis, None)
    layout[".*output_projection/kernel"] = (None, model_axis)
    layout[".*output_projection/bias"] = (model_axis,)
    return layout


def _row_count(item):
    leaves = [x for x in tree.flatten(item) if x is not None]
    return int(np.shape(leaves[0])[0])


def _join_rows(parts):
    if len(parts) == 1:
        return parts[0]
    flat = [tree.flatten(part) for part in parts]
    joined = []
    for leaves in zip(*flat):
        leaves = [np.asarray(x) for x in leaves]
        if leaves[0].ndim >= 2:
            steps = max(x.shape[1] for x in leaves)
            leaves = [
                np.pad(x, [(0, 0), (0, steps - x.shape[1])] + [(0, 0)] * (x.ndim - 2))
                for x in leaves
            ]
        joined.append(np.concatenate(leaves, axis=0))
    return tree.pack_sequence_as(parts[0], joined)
