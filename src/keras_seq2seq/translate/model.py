"""`Translator`: the NMT model of the translation pipeline.

A bidirectional GRU/LSTM encoder, a bridge from its final states to the
decoder's initial state, and an attention decoder with input feeding
(`keras_seq2seq.layers.AttentionCell`) trained with teacher forcing; greedy
and beam decoding over the library's decoding core.
"""

import collections
import functools

import keras
from keras import ops

from keras_seq2seq.backend.compile import compile_function
from keras_seq2seq.decoding import beam_search, greedy_search, sample, tile_batch
from keras_seq2seq.layers.attention_cell import CELL_TYPES, MECHANISMS, AttentionCell
from keras_seq2seq.layers.packed_gru import PackedGRU
from keras_seq2seq.validation import check_positive_int

Translation = collections.namedtuple(
    "Translation", ("tokens", "lengths", "scores", "attention")
)
Translation.__doc__ = """What `Translator.greedy` and `Translator.beam` return.

Attributes:
    tokens: int32 `[batch, time]`, the output tokens (`bos` excluded, `eos`
        included); 0 after `eos`.
    lengths: int32 `[batch]`, tokens per row, counting `eos`.
    scores: float `[batch]`: greedy: the sum of the chosen tokens' log
        probabilities; beam: the beam search's (length-penalised) score.
    attention: `[batch, time, source_time]` alignments of each output step;
        zero rows after `eos`.
"""

Sampling = collections.namedtuple(
    "Sampling", ("temperature", "top_k", "top_p", "seed"), defaults=(1.0, None, None, 0)
)
Sampling.__doc__ = """How `Translator.greedy` draws its tokens instead of taking
the most likely: the arguments of `keras_seq2seq.decoding.sample` (an int
`seed` makes the draws reproducible).

Example:
>>> Sampling(top_p=0.9)
Sampling(temperature=1.0, top_k=None, top_p=0.9, seed=0)
"""


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Translator(keras.Model):
    """Encoder-decoder translation model with attention and input feeding.

    Encoder: `source_embedding`, then `encoder_layers` (bidirectional) GRUs or
    LSTMs returning sequences (`encoder_0`, `encoder_1`, ...); the outputs of
    the last are the memory. `bridge_h` (and `bridge_c` for an LSTM) map the
    last layer's final states, both directions concatenated, to the decoder's
    initial state (tanh for `h`, linear for `c`). Decoder: `target_embedding`,
    an `AttentionCell` (`decoder_cell`: `rnn_type` cell with `decoder_units`,
    Bahdanau or Luong attention, input feeding) run with
    `keras_seq2seq.backend.scan`, and `output_projection` to the
    target vocabulary. Dropout is applied to both embeddings, between encoder
    layers and to the attention vectors, never inside a recurrence. Both
    embeddings are initialised from N(0, 1).

    Every variable is created in `build` under a fixed path
    (`translator/source_embedding/embeddings`,
    `translator/output_projection/kernel`, ...), so a
    `keras.distribution.LayoutMap` can target them.

    Args:
        source_vocab_size, target_vocab_size: vocabulary sizes.
        embedding_dim: depth of both embeddings.
        rnn_type: `"gru"` or `"lstm"`, for the encoder and the decoder.
        bidirectional: bidirectional encoder layers.
        encoder_layers: number of stacked encoder layers.
        encoder_units: units per direction of each encoder layer.
        decoder_units: units of the decoder cell.
        attention: `"bahdanau"` or `"luong"`.
        attention_units: Bahdanau projection depth (default `decoder_units`).
        attention_layer_size: attention vector depth (default `decoder_units`).
        dropout: dropout rate (see above).
        pad_id: the padding token id; source steps holding it are masked.

    Call arguments:
        inputs: `(source_ids, decoder_input_ids)`, int `[batch, source_time]`
            and `[batch, target_time]`, padded with `pad_id`. Padded target
            steps are computed like the others: mask them in the loss with
            sample weights.
        training: enables dropout.

    Returns:
        Logits `[batch, target_time, target_vocab_size]`.

    Example:
    >>> model = Translator(20, 20, embedding_dim=8, encoder_units=8,
    ...                    decoder_units=16, encoder_layers=1)
    >>> source = keras.ops.convert_to_tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    >>> tuple(model((source, keras.ops.ones((2, 3), "int32"))).shape)
    (2, 3, 20)
    >>> out = model.greedy(source, max_length=6, bos_id=1, eos_id=2)
    >>> out.attention.shape[0] == 2 and out.attention.shape[2] == 4
    True

    References:
        Bahdanau, Cho & Bengio 2015; Luong, Pham & Manning 2015.
    """

    def __init__(
        self,
        source_vocab_size,
        target_vocab_size,
        embedding_dim=256,
        rnn_type="gru",
        bidirectional=True,
        encoder_layers=2,
        encoder_units=256,
        decoder_units=512,
        attention="bahdanau",
        attention_units=None,
        attention_layer_size=None,
        dropout=0.2,
        pad_id=0,
        **kwargs,
    ):
        kwargs.setdefault("name", "translator")
        super().__init__(**kwargs)
        self.source_vocab_size = check_positive_int(
            "source_vocab_size", source_vocab_size
        )
        self.target_vocab_size = check_positive_int(
            "target_vocab_size", target_vocab_size
        )
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        if not isinstance(rnn_type, str) or rnn_type not in CELL_TYPES:
            raise ValueError(
                f"`rnn_type` must be one of {CELL_TYPES}. Received: rnn_type={rnn_type!r}"
            )
        if not isinstance(attention, str) or attention not in MECHANISMS:
            raise ValueError(
                f"`attention` must be one of {sorted(MECHANISMS)}. "
                f"Received: attention={attention!r}"
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0.0 <= dropout < 1.0
        ):
            raise ValueError(
                f"`dropout` must be a float in [0, 1). Received: dropout={dropout!r}"
            )
        if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
            raise ValueError(
                f"`pad_id` must be a non-negative int. Received: pad_id={pad_id!r}"
            )
        self.rnn_type = rnn_type
        self.bidirectional = bool(bidirectional)
        self.encoder_layers = check_positive_int("encoder_layers", encoder_layers)
        self.encoder_units = check_positive_int("encoder_units", encoder_units)
        self.decoder_units = check_positive_int("decoder_units", decoder_units)
        self.attention = attention
        self.attention_units = check_positive_int(
            "attention_units", attention_units, allow_none=True
        )
        self.attention_layer_size = check_positive_int(
            "attention_layer_size", attention_layer_size, allow_none=True
        )
        self.dropout = float(dropout)
        self.pad_id = pad_id
        self._make_layers()
        self._translate_functions = {}

    def _make_layers(self):
        # PackedGRU is keras.layers.GRU, fused on torch for masked batches.
        rnn_class = PackedGRU if self.rnn_type == "gru" else keras.layers.LSTM
        # Every layer computes in the model's dtype policy (`dtype=...`).
        policy = self.dtype_policy
        # Embeddings start from N(0, 1), not Keras's uniform within 0.05: so
        # small an input barely moves the encoder at first, its outputs then
        # differ by position more than by word, and the attention learns to
        # sweep along the source by position instead of aligning words.
        self.source_embedding = keras.layers.Embedding(
            self.source_vocab_size,
            self.embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
            dtype=policy,
            name="source_embedding",
        )
        self.target_embedding = keras.layers.Embedding(
            self.target_vocab_size,
            self.embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
            dtype=policy,
            name="target_embedding",
        )
        self.encoder_rnns = []
        for index in range(self.encoder_layers):
            name = f"encoder_{index}"
            rnn = rnn_class(
                self.encoder_units,
                return_sequences=True,
                return_state=True,
                dtype=policy,
                name=f"{name}_rnn" if self.bidirectional else name,
            )
            if self.bidirectional:
                rnn = keras.layers.Bidirectional(rnn, dtype=policy, name=name)
            self.encoder_rnns.append(rnn)
        self.bridge_h = keras.layers.Dense(
            self.decoder_units, activation="tanh", dtype=policy, name="bridge_h"
        )
        self.bridge_c = None
        if self.rnn_type == "lstm":
            self.bridge_c = keras.layers.Dense(
                self.decoder_units, dtype=policy, name="bridge_c"
            )
        self.decoder_cell = AttentionCell(
            self.decoder_units,
            attention=self.attention,
            cell_type=self.rnn_type,
            attention_units=self.attention_units,
            attention_layer_size=self.attention_layer_size,
            dtype=policy,
            name="decoder_cell",
        )
        self.output_projection = keras.layers.Dense(
            self.target_vocab_size, dtype=policy, name="output_projection"
        )
        self.source_dropout, self.target_dropout, self.output_dropout = (
            keras.layers.Dropout(self.dropout, dtype=policy, name=f"{part}_dropout")
            for part in ("source", "target", "output")
        )

    @property
    def memory_depth(self):
        """Depth of the encoder outputs (the memory attended to)."""
        return self.encoder_units * (2 if self.bidirectional else 1)

    def build(self, input_shape=None):
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        sequence_shape = (None, None, self.embedding_dim)
        for rnn in self.encoder_rnns:
            rnn.build(sequence_shape)
            sequence_shape = (None, None, self.memory_depth)
        self.bridge_h.build((None, self.memory_depth))
        if self.bridge_c is not None:
            self.bridge_c.build((None, self.memory_depth))
        self.decoder_cell.build((None, self.embedding_dim), sequence_shape)
        self.output_projection.build((None, self.decoder_cell.attention_layer_size))

    # ------------------------------------------------------------------ training

    def call(self, inputs, training=False):
        source_ids, decoder_input_ids = self._split_inputs(inputs)
        memory, memory_mask, initial_state = self.encode(source_ids, training=training)
        attention, _, _ = self._teacher_forced(
            decoder_input_ids, memory, memory_mask, initial_state, training
        )
        attention = self.output_dropout(attention, training=training)
        return self.output_projection(attention)

    def _split_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "Translator takes `(source_ids, decoder_input_ids)`. Received: "
                f"inputs of type {type(inputs).__name__}"
                + (
                    f" with {len(inputs)} items"
                    if isinstance(inputs, (list, tuple))
                    else ""
                )
            )
        source_ids, decoder_input_ids = inputs
        for name, ids in (
            ("source_ids", source_ids),
            ("decoder_input_ids", decoder_input_ids),
        ):
            if len(ids.shape) != 2:
                raise ValueError(
                    f"`{name}` must have rank 2 (batch, time). "
                    f"Received: {name}.shape={tuple(ids.shape)}"
                )
        return source_ids, decoder_input_ids

    def _teacher_forced(
        self, decoder_input_ids, memory, memory_mask, initial_state, training=False
    ):
        embedded = self.target_embedding(ops.cast(decoder_input_ids, "int32"))
        embedded = self.target_dropout(embedded, training=training)
        return self.decoder_cell.unroll(
            embedded, initial_state, memory, memory_mask, training=training
        )

    # ------------------------------------------------------------------ decoding

    def encode(self, source_ids, training=False):
        """Encodes a source batch.

        Args:
            source_ids: int `[batch, source_time]`, padded with `pad_id`.
            training: enables dropout.

        Returns:
            `(memory, memory_mask, initial_state)`: the encoder outputs
            `[batch, source_time, memory_depth]`, the boolean source mask and
            the decoder state before its first step,
            `(cell_states, attention, alignments)`.
        """
        if not self.built:
            self.build()
        source_ids = ops.cast(source_ids, "int32")
        memory_mask = ops.not_equal(source_ids, self.pad_id)
        x = self.source_dropout(self.source_embedding(source_ids), training=training)
        final_states = None
        for index, rnn in enumerate(self.encoder_rnns):
            if index:
                x = self.source_dropout(x, training=training)
            x, *final_states = rnn(x, mask=memory_mask, training=training)
        return x, memory_mask, self._bridge(x, final_states)

    def _bridge(self, memory, final_states):
        per_direction = self.decoder_cell.num_cell_states
        directions = [final_states[:per_direction]]
        if self.bidirectional:
            directions.append(final_states[per_direction:])
        h = self.bridge_h(ops.concatenate([d[0] for d in directions], axis=-1))
        cell_states = (h,)
        if self.bridge_c is not None:
            c = self.bridge_c(ops.concatenate([d[1] for d in directions], axis=-1))
            cell_states = (h, c)
        return self.decoder_cell.get_initial_state(memory, cell_states)

    def decode_step_fn(self, memory, memory_mask):
        """A decoder step function over a fixed memory, for the decoding core.

        The memory keys are computed here, once. For beam search, pass the
        memory and mask tiled to `batch * beam_width` rows.

        Returns:
            `step(tokens, state) -> (logits, state)`: `tokens` int `[batch]`,
            `state` as from `encode` (`state[2]` holds the alignments
            `[batch, source_time]` of the step just taken), logits
            `[batch, target_vocab_size]`.
        """
        keys = self.decoder_cell.keys(memory)

        def step(tokens, state):
            embedded = self.target_embedding(ops.cast(tokens, "int32"))
            attention, state = self.decoder_cell(
                embedded, state, memory, memory_mask=memory_mask, keys=keys
            )
            return self.output_projection(attention), state

        return step

    def attention_weights(self, source_ids, decoder_input_ids):
        """Alignments `[batch, target_time, source_time]` of a teacher-forced pass."""
        memory, memory_mask, state = self.encode(source_ids)
        _, alignments, _ = self._teacher_forced(
            decoder_input_ids, memory, memory_mask, state
        )
        return alignments

    def greedy(self, source_ids, max_length, bos_id, eos_id, sampling=None):
        """Greedy decoding (`keras_seq2seq.decoding.greedy_search`), or
        sampling (`keras_seq2seq.decoding.sample`).

        Args:
            source_ids: int `[batch, source_time]`.
            max_length: the most output tokens per row (Python int).
            bos_id: the token fed at the first step.
            eos_id: the token that ends a row.
            sampling: None for greedy decoding, or a `Sampling`: each output
                token is drawn from the model's distribution (see `sample`).

        Returns:
            A `Translation`. Eagerly, the time axis has as many steps as the
            longest row; under `jax.jit` (see `make_translate_function`) it
            has `max_length` steps, zeros after `eos`.
        """
        memory, memory_mask, state = self.encode(source_ids)
        search = greedy_search
        if sampling is not None:
            search = functools.partial(sample, **sampling._asdict())
        out = search(
            self.decode_step_fn(memory, memory_mask),
            self._start_tokens(source_ids, bos_id),
            state,
            max_length=max_length,
            end_token=eos_id,
            attention_fn=lambda step_state: step_state[2],
        )
        scores = ops.sum(out.log_probs, axis=-1)
        return Translation(out.tokens, out.lengths, scores, out.attention)

    def beam(
        self,
        source_ids,
        beam_width,
        max_length,
        bos_id,
        eos_id,
        length_penalty=0.0,
        coverage_penalty=0.0,
        all_beams=False,
    ):
        """Beam search (`keras_seq2seq.decoding.beam_search`), best beam per row.

        Args:
            source_ids, max_length, bos_id, eos_id: as in `greedy`.
            beam_width: beams per source (Python int).
            length_penalty, coverage_penalty: GNMT penalties (Wu et al. 2016);
                the coverage penalty reads the alignments in the state.
            all_beams: return every beam, best first: a beam axis after the
                batch axis in each field.

        Returns:
            A `Translation` whose scores are the beam search's.
        """
        beam_width = check_positive_int("beam_width", beam_width)
        memory, memory_mask, state = self.encode(source_ids)
        out = beam_search(
            self.decode_step_fn(
                tile_batch(memory, beam_width), tile_batch(memory_mask, beam_width)
            ),
            self._start_tokens(source_ids, bos_id),
            tile_batch(state, beam_width),
            beam_width=beam_width,
            max_length=max_length,
            end_token=eos_id,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
            attention_fn=lambda step_state: step_state[2],
            return_all_beams=all_beams,
        )
        tokens = ops.cast(out.tokens, "int32")
        lengths = ops.cast(out.lengths, "int32")
        # beam_search gathers the alignments of each step along each beam.
        valid = self._valid_steps(tokens, lengths)
        attention = ops.where(
            valid[..., None], out.attention, ops.zeros_like(out.attention)
        )
        return Translation(tokens, lengths, out.scores, attention)

    def make_translate_function(
        self,
        max_length,
        bos_id,
        eos_id,
        beam_width=1,
        length_penalty=0.0,
        coverage_penalty=0.0,
        all_beams=False,
        sampling=None,
    ):
        """A compiled `fn(source_ids) -> Translation` (`backend.compile_function`).

        `jax.jit` on JAX (output time axis: `max_length`), `tf.function` on
        TensorFlow, eager on torch. `beam_width=1` decodes greedily, or
        samples with a `Sampling`;
        `all_beams` returns every beam (see `beam`). The function reads the
        current weights at every call and is cached per argument set.
        """
        key = (
            max_length,
            bos_id,
            eos_id,
            beam_width,
            length_penalty,
            coverage_penalty,
            all_beams,
            sampling,
        )
        if key not in self._translate_functions:
            if not self.built:
                self.build()

            def translate(source_ids):
                if beam_width == 1:
                    return self.greedy(
                        source_ids, max_length, bos_id, eos_id, sampling=sampling
                    )
                return self.beam(
                    source_ids,
                    beam_width,
                    max_length,
                    bos_id,
                    eos_id,
                    length_penalty=length_penalty,
                    coverage_penalty=coverage_penalty,
                    all_beams=all_beams,
                )

            self._translate_functions[key] = compile_function(translate, self)
        return self._translate_functions[key]

    def _start_tokens(self, source_ids, bos_id):
        return ops.zeros_like(ops.cast(source_ids[:, 0], "int32")) + bos_id

    @staticmethod
    def _valid_steps(tokens, lengths):
        steps = ops.arange(ops.shape(tokens)[-1], dtype="int32")
        return ops.less(steps, ops.cast(lengths, "int32")[..., None])

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocab_size": self.source_vocab_size,
            "target_vocab_size": self.target_vocab_size,
            "embedding_dim": self.embedding_dim,
            "rnn_type": self.rnn_type,
            "bidirectional": self.bidirectional,
            "encoder_layers": self.encoder_layers,
            "encoder_units": self.encoder_units,
            "decoder_units": self.decoder_units,
            "attention": self.attention,
            "attention_units": self.attention_units,
            "attention_layer_size": self.attention_layer_size,
            "dropout": self.dropout,
            "pad_id": self.pad_id,
        }
