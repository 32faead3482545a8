"""The places where the decoding core needs a backend's own line.

* `scan`: `keras_seq2seq.backend.scan`, except on TensorFlow, where the loop is
  a `tf.while_loop` given `maximum_iterations`, which XLA needs to
  differentiate it (`jit_compile=True` training); `keras.ops.scan` leaves it
  unset.
* `concrete_steps`: whether the number of steps a decode loop took can become
  part of an output shape. TensorFlow graphs (XLA included) accept a tensor
  slice bound; JAX under tracing and torch under shape inference do not, so the
  loop keeps its static bound there.
* `top_k`: `keras.ops.top_k` with ties going to the lower index, as
  TensorFlow and JAX already do; torch's `topk` leaves their order open.
"""

import keras
from keras import ops, tree

from keras_seq2seq.backend.scan import scan as _backend_scan

try:  # Keras-private, read-only: tells torch's shape inference from a real call.
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope
except ImportError:  # pragma: no cover - older or newer Keras layouts

    def in_symbolic_scope():
        return False


def _torch_is_abstract(value):
    import torch

    if in_symbolic_scope() or torch.compiler.is_compiling():
        return True
    return isinstance(value, torch.Tensor) and value.device.type == "meta"


def concrete_steps(num_steps):
    """Returns a bound to slice the time axis with, or None to keep it whole.

    Args:
        num_steps: scalar integer tensor, the steps a decode loop took.

    Returns:
        The tensor itself on TensorFlow, a Python int on JAX and torch when the
        value is known, None when it is not (JAX tracing, for instance under
        `jit`; torch shape inference or `torch.compile`).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return num_steps
    if backend == "jax":
        import jax

        if isinstance(num_steps, jax.core.Tracer):
            return None
        return int(num_steps)
    if backend == "torch" and _torch_is_abstract(num_steps):
        return None
    return int(ops.convert_to_numpy(num_steps))


def top_k(x, k):
    """The `k` largest values on the last axis, best first, ties to the lower index.

    Returns `(values, int32 indices)`.
    """
    if keras.backend.backend() != "torch":
        values, indices = ops.top_k(x, k)
        return values, ops.cast(indices, "int32")
    import torch

    values, indices = torch.topk(x, k, dim=-1)
    kth = values[..., -1:]
    tied = x == kth
    if _torch_is_abstract(x) or not torch.equal(
        tied.sum(dim=-1), (values == kth).sum(dim=-1)
    ):
        # More entries tie with the k-th than `topk` kept: the lowest-index
        # tied entries fill the places the larger values leave.
        above = x > kth
        room = k - above.sum(dim=-1, keepdim=True)
        keep = above | (tied & (torch.cumsum(tied.int(), dim=-1) <= room))
        indices = torch.nonzero(keep)[:, -1].reshape(x.shape[:-1] + (k,))
    # Index order, then a stable sort by value: ties rank by index.
    indices = torch.sort(indices, dim=-1).values
    values = torch.gather(x, -1, indices)
    order = torch.sort(values, dim=-1, descending=True, stable=True).indices
    return torch.gather(values, -1, order), torch.gather(indices, -1, order).int()


def scan(step, init, xs):
    """`carry, y = step(carry, x)` over the leading axis of `xs` (see `backend.scan`)."""
    if keras.backend.backend() != "tensorflow":
        return _backend_scan(step, init, xs)
    import tensorflow as tf

    # The first step runs outside the loop: it gives the shapes of `y`, and
    # any variable a layer creates on first call is created outside the loop.
    carry, first_y = step(init, tree.map_structure(lambda x: x[0], xs))
    length = tf.shape(tree.flatten(xs)[0])[0]
    arrays = [
        tf.TensorArray(y.dtype, size=length, element_shape=y.shape).write(0, y)
        for y in tree.flatten(first_y)
    ]

    def body(index, carry, arrays):
        carry, y = step(carry, tree.map_structure(lambda x: x[index], xs))
        arrays = [a.write(index, v) for a, v in zip(arrays, tree.flatten(y))]
        return index + 1, carry, arrays

    _, carry, arrays = tf.while_loop(
        lambda index, *_: index < length,
        body,
        (tf.constant(1), carry, arrays),
        maximum_iterations=length - 1,
    )
    return carry, tree.pack_sequence_as(first_y, [a.stack() for a in arrays])
