"""The places where the decoding core needs a backend's own line.

* `concrete_steps`: whether the number of steps a decode loop took can become
  part of an output shape. TensorFlow graphs (XLA included) accept a tensor
  slice bound; JAX under tracing and torch under shape inference do not, so the
  loop keeps its static bound there.
* `top_k`: `keras.ops.top_k` with ties going to the lower index, as
  TensorFlow and JAX already do; torch's `topk` leaves their order open.
"""

import keras
from keras import ops

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
