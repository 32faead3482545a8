import keras
import numpy as np
from conftest import gradient
from keras import ops

from keras_seq2seq.backend.remat import recompute_in_backward


def cube(x):
    return ops.sum(ops.tanh(x) ** 3)


def test_remat_on_compiled_backends_only():
    wrapped = recompute_in_backward(cube)
    assert (wrapped is cube) == (keras.backend.backend() == "torch")


def test_recomputed_function_has_the_same_value_and_gradient():
    x = np.linspace(-1.5, 2.0, 7, dtype="float32")
    wrapped = recompute_in_backward(cube)
    np.testing.assert_allclose(
        ops.convert_to_numpy(wrapped(x)), np.sum(np.tanh(x) ** 3), rtol=1e-5
    )
    want = 3.0 * np.tanh(x) ** 2 * (1.0 - np.tanh(x) ** 2)
    np.testing.assert_allclose(
        ops.convert_to_numpy(gradient(wrapped, x)), want, rtol=1e-5, atol=1e-6
    )
