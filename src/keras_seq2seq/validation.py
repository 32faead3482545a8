"""Argument and input checks shared by the layers; each error names the
argument, what was expected and what was received."""

import numbers


def check_positive_int(name, value, allow_none=False):
    """Returns `value` as a Python int (None stays None when allowed); raises a
    ValueError unless it is an integer >= 1."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def check_fraction(name, value, error=ValueError):
    """Returns `value` as a float; raises `error` unless it is a real number
    in [0, 1).

    >>> check_fraction("smoothing", 0.1)
    0.1
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 <= value < 1
    ):
        raise error(f"`{name}` must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)


def is_shape(value):
    """True for a shape tuple or list such as `(None, 5, 8)`."""
    return isinstance(value, (list, tuple)) and all(
        d is None or isinstance(d, int) for d in value
    )


def shape_of(value):
    """The static shape of a tensor, or `value` itself if it is a shape."""
    return tuple(value) if is_shape(value) else tuple(value.shape)


def check_rank(layer_name, label, value, rank, meaning):
    """Raises a ValueError unless a tensor or shape has the given rank."""
    shape = shape_of(value)
    if len(shape) != rank:
        raise ValueError(
            f"{layer_name}: `{label}` must have rank {rank} {meaning}. "
            f"Received: {label}.shape={shape}"
        )


def check_same_batch(a, b, a_name, b_name):
    """Raises a ValueError when two tensors' (or shapes') static batch sizes differ."""
    batch_a, batch_b = shape_of(a)[0], shape_of(b)[0]
    if batch_a is None or batch_b is None or batch_a == batch_b:
        return
    hint = ""
    if batch_a % batch_b == 0:
        hint = (
            f" If {a_name} holds {batch_a // batch_b} beams per source, tile "
            f"{b_name} with `tile_batch(..., multiplier={batch_a // batch_b})`."
        )
    raise ValueError(
        f"`{a_name}` and `{b_name}` must have the same batch size. Received: "
        f"{a_name}.shape[0]={batch_a}, {b_name}.shape[0]={batch_b}.{hint}"
    )
