"""Keras' Adam update as PyTorch's fused kernel (`torch._fused_adam_`)."""

import math

import torch

# PyTorch 2.4 is the first with a CPU kernel.
_HAS_CPU_KERNEL = tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 4)


def fused_adam_available():
    """True where `torch._fused_adam_` can run: PyTorch 2.4 or newer, and not
    while `torch.compile` traces (it cannot trace the kernel; the traced step
    gets Keras' update instead)."""
    return _HAS_CPU_KERNEL and not torch.compiler.is_compiling()


@torch.no_grad()
def fused_adam_update(
    variable, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon
):
    """Updates `variable`, `m` and `v` in place as `keras.optimizers.Adam` does.

    `step` counts from 1. Keras adds `epsilon` to `sqrt(v)` before the bias
    correction of the second moment, PyTorch after it: dividing it by
    `sqrt(1 - beta_2 ** step)` gives Keras' update.
    """
    torch._fused_adam_(
        [variable],
        [gradient.to(variable.dtype)],
        [m],
        [v],
        [],
        [torch.tensor(float(step), device=variable.device)],
        lr=float(learning_rate),
        beta1=beta_1,
        beta2=beta_2,
        weight_decay=0.0,
        eps=epsilon / math.sqrt(1.0 - beta_2**step),
        amsgrad=False,
        maximize=False,
    )
