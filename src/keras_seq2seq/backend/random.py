"""Stateless uniform draws keyed by `(seed, step)`, the same on every backend
and under every compiler.

A sampler inside a compiled decode loop needs fresh numbers at every step
without touching a `keras.random.SeedGenerator`, whose state update cannot
happen inside `jax.lax.scan` or a `tf.while_loop`. The backends' own stateless
generators do not fit either: TensorFlow's draw other numbers under XLA than
eagerly for a seed computed in the graph, and torch has none (a
`torch.Generator` is seeded from a host integer, which `torch.compile` cannot
trace). So the numbers come from a counter-based integer hash written in
`keras.ops`: int32 arithmetic, which wraps on every backend, with logical
shifts done as arithmetic shifts then masked. The same seed and step give
bit-identical numbers on JAX, TensorFlow and torch, eagerly and compiled.
"""

from keras import ops


def _int32(value):
    """A 32-bit pattern as the int32 constant with the same bits."""
    return ops.convert_to_tensor(
        ((value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000, "int32"
    )


def _shift_right(x, bits):
    """The logical right shift of int32 bit patterns."""
    return ops.bitwise_and(ops.right_shift(x, bits), (1 << (32 - bits)) - 1)


def _mix32(x):
    """A 32-bit integer finaliser (lowbias32): every input bit flips about
    half the output bits."""
    x = ops.bitwise_xor(x, _shift_right(x, 16))
    x = ops.multiply(x, _int32(0x7FEB352D))
    x = ops.bitwise_xor(x, _shift_right(x, 15))
    x = ops.multiply(x, _int32(0x846CA68B))
    return ops.bitwise_xor(x, _shift_right(x, 16))


def step_uniform(shape, seed, step):
    """Uniform `[0, 1)` float32 numbers that depend only on `seed` and `step`.

    Args:
        shape: output shape (ints, or scalar tensors on TensorFlow).
        seed: a seed tensor as returned by `keras.random.SeedGenerator.next()`,
            or a pair of ints.
        step: scalar integer (tensor), mixed into the seed.

    Example:
    >>> import keras
    >>> seed = keras.random.SeedGenerator(1).next()
    >>> a = step_uniform((3,), seed, 0)
    >>> bool(ops.all(a == step_uniform((3,), seed, 0)))
    True
    >>> bool(ops.all(a == step_uniform((3,), seed, 1)))
    False
    """
    words = ops.reshape(ops.cast(ops.convert_to_tensor(seed), "int32"), (-1,))
    key = _mix32(words[0])
    for index in range(1, words.shape[0]):
        key = _mix32(ops.bitwise_xor(key, words[index]))
    key = _mix32(ops.bitwise_xor(key, ops.cast(step, "int32")))
    size = 1
    for dim in shape:
        size = size * dim
    counter = ops.arange(size, dtype="int32")
    bits = _mix32(ops.bitwise_xor(_mix32(ops.bitwise_xor(counter, key)), key))
    # The top 24 bits are exact in float32 and scale to below 1.
    uniform = ops.cast(_shift_right(bits, 8), "float32") * (2.0**-24)
    return ops.reshape(uniform, tuple(shape))
