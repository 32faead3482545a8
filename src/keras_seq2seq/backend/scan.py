"""`scan` with `jax.lax.scan` semantics on every Keras backend: the one loop
every recurrence here (decoders, attention cells, monotonic attention, the
decode loop) runs on.

On JAX and torch it is `keras.ops.scan`. On TensorFlow `keras.ops.scan`
requires each step's output `y` to have the structure, shapes and dtypes of
the carry, and leaves the loop's `maximum_iterations` unset, without which XLA
cannot differentiate it (`jit_compile=True` training). So there the loop is a
`tf.while_loop` given `maximum_iterations`, writing `y` into `TensorArray`s;
the first step runs before it, which gives the shapes of `y` and creates any
variable a layer builds on first call outside the loop.
"""

import keras
from keras import ops, tree


def scan(step, init, xs):
    """Runs `carry, y = step(carry, x)` over the leading axis of `xs`.

    Args:
        step: function `(carry, x) -> (carry, y)`; `carry`, `x` and `y` may be
            nested structures of tensors.
        init: the initial carry.
        xs: tensors (nested) whose leading axis is time, at least one step
            long; its length may be unknown until run time.

    Returns:
        `(final_carry, ys)`, with every leaf of `ys` stacked on a new leading
        time axis.

    Example:
    >>> final, ys = scan(lambda c, x: (c + x, c * x), 0.0, keras.ops.arange(1.0, 4.0))
    >>> float(final), keras.ops.convert_to_numpy(ys).tolist()
    (6.0, [0.0, 2.0, 9.0])
    """
    if keras.backend.backend() != "tensorflow":
        return ops.scan(step, init, xs)
    import tensorflow as tf

    carry, first_y = step(init, tree.map_structure(lambda x: x[0], xs))
    leading = tree.flatten(xs)[0]
    # A static length keeps the time axis of `ys` static too.
    length = leading.shape[0]
    if length is None:
        length = tf.shape(leading)[0]
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
