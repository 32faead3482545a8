"""A masked GRU in one fused call on the torch backend.

On torch, `keras.layers.GRU` takes a fused kernel only on CUDA with cuDNN and
never with a mask: a masked GRU on the CPU runs a Python loop of small ops for
every time step. `packed_gru` runs the same recurrence on right-padded
batches as one `torch._VF.gru` call over packed sequences (PyTorch's own loop,
the one `torch.nn.GRU` runs), and returns what Keras' loop returns.
"""

import keras
from keras import ops


def packed_gru(inputs, initial_state, mask, cell, go_backwards, zero_output_for_mask):
    """The masked loop of a `keras.layers.GRU` (`reset_after=True`, tanh and
    sigmoid, with biases) over a right-padded batch, as one fused call.

    Args:
        inputs: `[batch, time, features]`.
        initial_state: `[batch, units]`.
        mask: boolean `[batch, time]`, each row `True` for its first
            `length >= 1` steps and `False` after them.
        cell: the layer's `GRUCell` (its weights and settings).
        go_backwards: run each row from its last real step to its first.
        zero_output_for_mask: the layer's setting (`Bidirectional` sets it
            when it returns sequences).

    Returns:
        `(last_output, outputs, [state])` as `keras.layers.RNN.inner_loop`
        returns them, outputs in the order processed (reversed when
        `go_backwards`). On padded steps Keras' loop keeps the state and
        repeats the last output, or gives zeros with `zero_output_for_mask`
        (and then a zero `last_output` for a row whose last step is padded).

    Raises:
        NotImplementedError: not the torch backend, another cell setting, a
            mask that is not right padding of at least one step per row, or
            inside `torch.compile` (packing has data-dependent shapes); the
            caller then runs Keras' own loop.
    """
    if keras.backend.backend() != "torch" or not _fusable(cell):
        raise NotImplementedError
    import torch

    if torch.compiler.is_compiling():
        raise NotImplementedError
    from torch.nn.utils import rnn as torch_rnn

    mask = ops.convert_to_tensor(mask).bool()
    lengths = mask.sum(dim=1)
    steps = torch.arange(mask.shape[1], device=mask.device)
    if not bool(lengths.min() > 0) or not torch.equal(mask, steps < lengths[:, None]):
        raise NotImplementedError
    kernel = ops.convert_to_tensor(cell.kernel)
    inputs = ops.convert_to_tensor(inputs).to(kernel.dtype)
    initial_state = ops.convert_to_tensor(initial_state).to(kernel.dtype)
    # Within each row, step t <-> step length - 1 - t; padded steps stay put.
    reverse = torch.where(mask, lengths[:, None] - 1 - steps, steps)
    if go_backwards:
        inputs = inputs.gather(1, reverse[..., None].expand_as(inputs))
    packed = torch_rnn.pack_padded_sequence(
        inputs, lengths.cpu(), batch_first=True, enforce_sorted=False
    )
    data, state = torch._VF.gru(
        packed.data,
        packed.batch_sizes,
        initial_state[packed.sorted_indices][None],
        _torch_weights(cell),
        True,  # biases
        1,  # layers
        0.0,  # dropout
        torch.is_grad_enabled(),
        False,  # bidirectional
    )
    state = state[0][packed.unsorted_indices]
    outputs, _ = torch_rnn.pad_packed_sequence(
        packed._replace(data=data), batch_first=True, total_length=mask.shape[1]
    )
    last_output = state
    if go_backwards:  # Padded steps come first: their outputs are zero.
        outputs = outputs.gather(1, reverse[..., None].expand_as(outputs))
        outputs = torch.flip(outputs, dims=[1])
    elif zero_output_for_mask:
        last_output = torch.where(mask[:, -1:], state, torch.zeros_like(state))
    else:
        outputs = torch.where(mask[..., None], outputs, state[:, None, :])
    return last_output, outputs, [state]


def _fusable(cell):
    return (
        cell.reset_after
        and cell.use_bias
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
    )


def _torch_weights(cell):
    """`[w_ih, w_hh, b_ih, b_hh]` in torch's layout and gate order (r, z, n)
    from the cell's Keras weights (gate order z, r, h), differentiable."""
    import torch

    def reorder(weights):
        z, r, h = torch.chunk(ops.convert_to_tensor(weights), 3, dim=-1)
        return torch.cat([r, z, h], dim=-1)

    bias = reorder(cell.bias)
    return [
        reorder(cell.kernel).T,
        reorder(cell.recurrent_kernel).T,
        bias[0],
        bias[1],
    ]
