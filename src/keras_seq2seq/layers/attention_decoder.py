"""`AttentionDecoder`: the tutorial's recurrent attention decoder on Keras 3."""

import keras
from keras import ops

from keras_seq2seq.attention import functions
from keras_seq2seq.backend.scan import scan
from keras_seq2seq.validation import (
    check_positive_int,
    check_rank,
    check_same_batch,
    is_shape,
    shape_of,
)

GATES = ("r", "z", "p")


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class AttentionDecoder(keras.layers.Layer):
    """A GRU-like decoder with Bahdanau attention over an encoded sequence.

    The tutorial's `AttentionDecoder` (Zafarali Ahmed's layer, which needed
    Keras 2.0.8), with its signature, weights and recurrence: at each output
    step, with previous output `y` and state `s`,

        a = softmax(V_a . tanh(s W_a + x U_a + b_a))       attention over x
        c = a . x                                          context
        r = sigmoid(y W_r + s U_r + c C_r + b_r)
        z = sigmoid(y W_z + s U_z + c C_z + b_z)
        p = activation(y W_p + (r * s) U_p + c C_p + b_p)
        y' = output_activation(y W_o + s U_o + c C_o + b_o)
        s' = (1 - z) * s + z * p

    from `s0 = tanh(x[:, 0] W_s)` and `y0 = 0`. `x U_a + b_a` is computed once
    per sequence, and the loop is `keras_seq2seq.backend.scan` (compiled on every
    backend).

    Args:
        units: state and attention depth.
        output_dim: depth of each output step (e.g. the vocabulary size).
        activation: activation of the proposal state `p` (default tanh).
        return_probabilities: return the attention weights (B, T_out, T_in)
            instead of the outputs.
        name, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint: as in the original (attention
            weights use the kernel settings, gate and output weights the
            recurrent initializer and the kernel regularizer and constraint).
        output_length: number of output steps; default: the input length.
        output_activation: activation of the outputs (default `"softmax"`;
            None for linear outputs, e.g. regression or forecasting).
        feedback: `"full"` (the original: the previous output enters through
            (output_dim, units) and (output_dim, output_dim) weights) or
            `"projected"`: it is first projected to `units` by `W_y`
            (output_dim, units), so memory is linear in output_dim. With
            output_dim=34,000, units=128 and a 128-wide input, "full" has
            1,177,942,096 parameters (4.7 GB in float32), "projected"
            17,639,248 (71 MB).
        greedy_feedback: at steps without a teacher-forced target, feed back
            the one-hot of the argmax instead of the output itself (use it
            for a decoder trained with teacher forcing on one-hot targets).

    Call arguments:
        inputs: the encoded sequence (B, T_in, input_dim), or
            `[encoded, shifted_targets]` for teacher forcing, where
            `shifted_targets` (B, T_out, output_dim) holds the output that
            precedes each step (zeros at step 0): the decoder is then fed
            these instead of its own predictions.
        mask: the encoder's (B, T_in) mask, e.g. from
            `Embedding(mask_zero=True)`; masked steps get zero attention.

    Returns:
        (B, T_out, output_dim) outputs, or (B, T_out, T_in) attention weights
        with `return_probabilities=True`.

    Example:
    >>> model = keras.Sequential([
    ...     keras.Input((5, 50)),
    ...     keras.layers.LSTM(150, return_sequences=True),
    ...     AttentionDecoder(150, 50),
    ... ])
    >>> tuple(model.output_shape)
    (None, 5, 50)

    References:
        Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly
        Learning to Align and Translate", appendix A.2.
    """

    def __init__(
        self,
        units,
        output_dim,
        activation="tanh",
        return_probabilities=False,
        name="AttentionDecoder",
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        output_length=None,
        output_activation="softmax",
        feedback="full",
        greedy_feedback=False,
        **kwargs,
    ):
        super().__init__(name=name, activity_regularizer=activity_regularizer, **kwargs)
        if feedback not in ("full", "projected"):
            raise ValueError(
                "`feedback` must be 'full' or 'projected'. "
                f"Received: feedback={feedback!r}"
            )
        self.units = check_positive_int("units", units)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.activation = keras.activations.get(activation)
        self.return_probabilities = return_probabilities
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.output_length = check_positive_int(
            "output_length", output_length, allow_none=True
        )
        self.output_activation = keras.activations.get(output_activation)
        self.feedback = feedback
        self.greedy_feedback = greedy_feedback
        self.supports_masking = True

    def build(self, input_shape):
        encoded_shape, targets_shape = self._split(input_shape)
        input_dim = encoded_shape[-1]
        if targets_shape is not None and targets_shape[-1] != self.output_dim:
            raise ValueError(
                "AttentionDecoder: `shifted_targets` must have output_dim="
                f"{self.output_dim} features. Received: shifted_targets.shape="
                f"{tuple(targets_shape)}"
            )
        units, out = self.units, self.output_dim
        fed = units if self.feedback == "projected" else out

        def kernel(name, shape):
            return self._weight(name, shape, self.kernel_initializer, "kernel")

        def recurrent(name, shape):
            return self._weight(name, shape, self.recurrent_initializer, "kernel")

        def bias(name, shape):
            return self._weight(name, shape, self.bias_initializer, "bias")

        self.V_a = kernel("V_a", (units,))
        self.W_a = kernel("W_a", (units, units))
        self.U_a = kernel("U_a", (input_dim, units))
        self.b_a = bias("b_a", (units,))
        for gate in GATES:
            setattr(self, f"C_{gate}", recurrent(f"C_{gate}", (input_dim, units)))
            setattr(self, f"U_{gate}", recurrent(f"U_{gate}", (units, units)))
            setattr(self, f"W_{gate}", recurrent(f"W_{gate}", (fed, units)))
            setattr(self, f"b_{gate}", bias(f"b_{gate}", (units,)))
        self.C_o = recurrent("C_o", (input_dim, out))
        self.U_o = recurrent("U_o", (units, out))
        self.W_o = recurrent("W_o", (fed, out))
        self.b_o = bias("b_o", (out,))
        self.W_s = recurrent("W_s", (input_dim, units))
        self.W_y = (
            recurrent("W_y", (out, units)) if self.feedback == "projected" else None
        )

    def _weight(self, name, shape, initializer, kind):
        return self.add_weight(
            shape=shape,
            initializer=initializer,
            regularizer=getattr(self, f"{kind}_regularizer"),
            constraint=getattr(self, f"{kind}_constraint"),
            name=name,
        )

    def call(self, inputs, mask=None):
        encoded, targets = self._split(inputs)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        keys = ops.matmul(encoded, self.U_a) + self.b_a
        kernels = self._fused_kernels()
        batch = ops.shape(encoded)[0]
        initial = (
            ops.zeros((batch, self.output_dim), self.compute_dtype),
            ops.tanh(ops.matmul(encoded[:, 0], self.W_s)),
        )

        def step(state, target):
            previous_output, previous_state = state
            if target is not None:
                previous_output = target
            output, new_state, attention = self._step(
                previous_output, previous_state, encoded, keys, mask, kernels
            )
            fed_back = output
            if self.greedy_feedback:
                fed_back = ops.one_hot(ops.argmax(output, -1), self.output_dim)
                fed_back = ops.cast(fed_back, output.dtype)
            return (fed_back, new_state), (
                attention if self.return_probabilities else output
            )

        if targets is not None:
            xs = ops.moveaxis(targets, 1, 0)
            _, ys = scan(step, initial, xs)
        else:
            steps = ops.zeros((self._steps(encoded), 1), self.compute_dtype)
            _, ys = scan(lambda state, _: step(state, None), initial, steps)
        return ops.moveaxis(ys, 0, 1)

    def _steps(self, encoded):
        if self.output_length is not None:
            return self.output_length
        return ops.shape(encoded)[1]

    def _fused_kernels(self):
        # One matmul per source per step: [r | z | p | o] for y and c, [r | z | o] for s.
        concat = ops.concatenate
        return (
            concat([self.W_r, self.W_z, self.W_p, self.W_o], axis=1),
            concat([self.C_r, self.C_z, self.C_p, self.C_o], axis=1),
            concat([self.U_r, self.U_z, self.U_o], axis=1),
        )

    def _step(self, previous_output, previous_state, encoded, keys, mask, kernels):
        from_output, from_context, from_state = kernels
        scores = functions.additive_score(
            ops.matmul(previous_state[:, None], self.W_a), keys, self.V_a
        )
        attention = functions.softmax(scores, mask)[:, 0]
        context = functions.context(attention, encoded)
        if self.W_y is not None:
            previous_output = ops.matmul(previous_output, self.W_y)
        y = ops.matmul(previous_output, from_output)
        c = ops.matmul(context, from_context)
        s = ops.matmul(previous_state, from_state)
        u = self.units
        r = ops.sigmoid(y[:, :u] + s[:, :u] + c[:, :u] + self.b_r)
        z = ops.sigmoid(y[:, u : 2 * u] + s[:, u : 2 * u] + c[:, u : 2 * u] + self.b_z)
        proposal = self.activation(
            y[:, 2 * u : 3 * u]
            + ops.matmul(r * previous_state, self.U_p)
            + c[:, 2 * u : 3 * u]
            + self.b_p
        )
        new_state = (1.0 - z) * previous_state + z * proposal
        logits = y[:, 3 * u :] + s[:, 2 * u :] + c[:, 3 * u :] + self.b_o
        output = self.output_activation(logits)
        return output, new_state, attention

    def _split(self, inputs):
        if isinstance(inputs, (list, tuple)) and not is_shape(inputs):
            if len(inputs) != 2:
                raise ValueError(
                    "AttentionDecoder takes the encoded sequence, or a list "
                    "[encoded, shifted_targets]. Received a list of "
                    f"{len(inputs)} inputs."
                )
            encoded, targets = inputs
        else:
            encoded, targets = inputs, None
        check_rank(self.name, "inputs", encoded, 3, "(batch, time, features)")
        if targets is None:
            return encoded, None
        check_rank(
            self.name, "shifted_targets", targets, 3, "(batch, time, output_dim)"
        )
        check_same_batch(targets, encoded, "shifted_targets", "inputs")
        length = shape_of(targets)[1]
        if self.output_length is not None and length not in (None, self.output_length):
            raise ValueError(
                f"`shifted_targets` must have output_length={self.output_length} "
                f"steps. Received: shifted_targets.shape={shape_of(targets)}"
            )
        return encoded, targets

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        encoded_shape, targets_shape = self._split(input_shape)
        if targets_shape is not None:
            length = targets_shape[1]
        else:
            length = self.output_length or encoded_shape[1]
        depth = encoded_shape[1] if self.return_probabilities else self.output_dim
        return (encoded_shape[0], length, depth)

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "units": self.units,
            "output_dim": self.output_dim,
            "activation": keras.activations.serialize(self.activation),
            "return_probabilities": self.return_probabilities,
            "kernel_initializer": serialize(self.kernel_initializer),
            "recurrent_initializer": serialize(self.recurrent_initializer),
            "bias_initializer": serialize(self.bias_initializer),
            "kernel_regularizer": serialize(self.kernel_regularizer),
            "bias_regularizer": serialize(self.bias_regularizer),
            "kernel_constraint": serialize(self.kernel_constraint),
            "bias_constraint": serialize(self.bias_constraint),
            "output_length": self.output_length,
            "output_activation": keras.activations.serialize(self.output_activation),
            "feedback": self.feedback,
            "greedy_feedback": self.greedy_feedback,
        }
