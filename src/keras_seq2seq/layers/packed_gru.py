"""`PackedGRU`: `keras.layers.GRU`, with masked right-padded batches run as one
fused call on the torch backend."""

import keras
from keras import tree

from keras_seq2seq.backend.torch_gru import packed_gru


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class PackedGRU(keras.layers.GRU):
    """A `keras.layers.GRU` (same arguments, weights and results) that runs a
    masked, right-padded batch as one fused call on the torch backend.

    Keras' torch GRU loops over time steps in Python whenever a mask is given
    (its fused path needs CUDA and no mask). With a mask that keeps the first
    `length >= 1` steps of every row, and no dropout in training, this layer
    packs the batch and runs PyTorch's own GRU loop instead
    (`keras_seq2seq.backend.torch_gru`). Every other case, and every other
    backend, runs `keras.layers.GRU` unchanged.

    Masking: as `keras.layers.GRU`: padded steps keep the state, and their
    outputs repeat the last one or, with `zero_output_for_mask` (which
    `Bidirectional` sets when it returns sequences), are zero.

    Example:
    >>> import numpy as np
    >>> layer = keras.layers.Bidirectional(PackedGRU(4, return_sequences=True))
    >>> x = np.random.rand(2, 5, 3).astype("float32")
    >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    >>> tuple(layer(x, mask=mask).shape)
    (2, 5, 8)
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if tree.is_nested(mask):
            mask = mask[0]
        dropout = training and (self.dropout or self.recurrent_dropout)
        if mask is not None and not dropout:
            state = initial_state[0] if tree.is_nested(initial_state) else initial_state
            try:
                return packed_gru(
                    sequences,
                    state,
                    mask,
                    self.cell,
                    self.go_backwards,
                    self.zero_output_for_mask,
                )
            except NotImplementedError:
                pass
        return super().inner_loop(sequences, initial_state, mask, training=training)
