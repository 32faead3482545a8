"""`scan` with `jax.lax.scan` semantics on every Keras backend.

`keras.ops.scan` on TensorFlow requires each step's output `y` to have the
structure, shapes and dtypes of the carry; JAX and torch do not. On
TensorFlow the first step runs before the loop and the loop carries the last
`y` beside the state, so the loop's per-step output is the carry itself.
"""

import keras
from keras import ops, tree


def scan(step, init, xs):
    """Runs `carry, y = step(carry, x)` over the leading axis of `xs`.

    Args:
        step: function `(carry, x) -> (carry, y)`; `carry`, `x` and `y` may be
            nested structures of tensors.
        init: the initial carry.
        xs: tensors (nested) whose leading axis is time; its length may be
            unknown until run time.

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
    carry, first_y = step(init, tree.map_structure(lambda x: x[0], xs))

    def carry_output(state, x):
        new_carry, y = step(state[0], x)
        return (new_carry, y), (new_carry, y)

    rest = tree.map_structure(lambda x: x[1:], xs)
    (carry, _), (_, rest_ys) = ops.scan(carry_output, (carry, first_y), rest)
    ys = tree.map_structure(
        lambda first, others: ops.concatenate([first[None], others], axis=0),
        first_y,
        rest_ys,
    )
    return carry, ys
