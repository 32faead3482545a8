"""`AttentionLayer`: the attention_keras article's layer, working on Keras 3."""

import keras
from keras import ops

from keras_seq2seq.attention import functions
from keras_seq2seq.validation import check_rank, check_same_batch


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class AttentionLayer(keras.layers.Layer):
    """Bahdanau attention of a decoder sequence over an encoder sequence.

    A drop-in for attention_keras's `AttentionLayer`: the same weights
    `W_a` (He, He), `U_a` (Hd, He), `V_a` (He, 1) and math
    `e[t] = softmax_Te(V_a . tanh(enc W_a + dec[t] U_a))`, `c[t] = e[t] . enc`,
    computed for all decoder steps at once (no per-step loop), so it works in
    Keras 3 functional models with fixed or unknown batch sizes, Te != Td, a
    one-step decoder (the article's inference model), and on every backend.

    Call arguments:
        inputs: `[encoder_out, decoder_out]`, shapes (B, Te, He) and (B, Td, Hd).
        mask: optional `[encoder_mask, decoder_mask]`, taken from the Keras
            masks of the inputs (e.g. `Embedding(mask_zero=True)`): padded
            encoder steps get exactly zero energy.
        verbose: accepted for compatibility with the original; prints shapes.

    Returns:
        `[context (B, Td, He), energies (B, Td, Te)]`; both carry the
        decoder's mask.

    Example:
    >>> enc, dec = keras.ops.ones((2, 7, 32)), keras.ops.ones((2, 4, 16))
    >>> context, energies = AttentionLayer(name="attention_layer")([enc, dec])
    >>> tuple(context.shape), tuple(energies.shape)
    ((2, 4, 32), (2, 4, 7))

    References:
        Bahdanau, Cho & Bengio 2015; Ganegedara, "Attention in Deep Networks
        with Keras" (attention_keras).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        encoder_shape, decoder_shape = _check_pair(input_shape, "input_shape")
        encoder_depth, decoder_depth = encoder_shape[-1], decoder_shape[-1]
        self.W_a = self.add_weight((encoder_depth, encoder_depth), name="W_a")
        self.U_a = self.add_weight((decoder_depth, encoder_depth), name="U_a")
        self.V_a = self.add_weight((encoder_depth, 1), name="V_a")

    def call(self, inputs, mask=None, verbose=False):
        encoder_out, decoder_out = _check_pair(inputs, "inputs")
        check_same_batch(decoder_out, encoder_out, "decoder_out", "encoder_out")
        if verbose:
            print(f"encoder_out: {encoder_out.shape}, decoder_out: {decoder_out.shape}")
        encoder_mask = None if mask is None else mask[0]
        scores = functions.additive_score(
            ops.matmul(decoder_out, self.U_a),
            ops.matmul(encoder_out, self.W_a),
            ops.squeeze(self.V_a, -1),
        )
        energies = functions.softmax(scores, encoder_mask)
        return [functions.context(energies, encoder_out), energies]

    def compute_mask(self, inputs, mask=None):
        decoder_mask = None if mask is None else mask[1]
        return [decoder_mask, decoder_mask]

    def compute_output_shape(self, input_shape):
        encoder_shape, decoder_shape = _check_pair(input_shape, "input_shape")
        batch, decoder_time = decoder_shape[0], decoder_shape[1]
        return [
            (batch, decoder_time, encoder_shape[-1]),
            (batch, decoder_time, encoder_shape[1]),
        ]


def _check_pair(inputs, name):
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError(
            "AttentionLayer expects a list of two tensors [encoder_out, "
            f"decoder_out]. Received: {name}={inputs!r}"
        )
    for label, value in zip(("encoder_out", "decoder_out"), inputs):
        check_rank("AttentionLayer", label, value, 3, "(batch, time, depth)")
    return inputs
