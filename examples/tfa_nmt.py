"""tensorflow_addons' NMT tutorial, on Keras 3 with `import keras_seq2seq as tfa`.

The structure of tfa's "Neural machine translation with attention" tutorial:
an `EncoderNetwork` (Embedding + LSTM returning sequences and state), a
`DecoderNetwork` (Embedding, `LuongAttention` + `AttentionWrapper` over an
`LSTMCell`, `TrainingSampler`, `BasicDecoder` with a Dense output layer), the
encoder's final state cloned into the wrapper's initial state, greedy
inference with `GreedyEmbeddingSampler`, and beam search with
`BeamSearchDecoder` (memory, lengths and encoder state tiled with
`tile_batch`, as the tutorial does). The tfa calls are unchanged; the
training loop is Keras `fit` (tfa's used `tf.GradientTape`), so it runs on
every backend.

The data is a toy task: reverse a sequence of random tokens, so attention has
to align each output with the mirrored input.

    KERAS_BACKEND=jax python examples/tfa_nmt.py --epochs 30
    KERAS_BACKEND=jax python examples/tfa_nmt.py --epochs 4  # undertrained: beam helps
"""

import argparse
import json
from pathlib import Path

import keras
import numpy as np
from keras import ops

import keras_seq2seq as tfa  # was: import tensorflow_addons as tfa

PAD, START, END = 0, 1, 2


def reversal_pairs(count, vocab_size, max_length, rng):
    """Sources of 3..max_length random tokens; targets: the reversed source + END."""
    lengths = rng.integers(3, max_length + 1, count)
    sources = np.zeros((count, max_length), "int32")
    targets = np.zeros((count, max_length + 1), "int32")
    for row, length in enumerate(lengths):
        tokens = rng.integers(3, vocab_size, length)
        sources[row, :length] = tokens
        targets[row, :length] = tokens[::-1]
        targets[row, length] = END
    return sources, targets


class EncoderNetwork(keras.Model):
    def __init__(self, input_vocab_size, embedding_dims, rnn_units):
        super().__init__()
        self.encoder_embedding = keras.layers.Embedding(
            input_vocab_size, embedding_dims
        )
        self.encoder_rnnlayer = keras.layers.LSTM(
            rnn_units, return_sequences=True, return_state=True
        )


class DecoderNetwork(keras.Model):
    def __init__(self, output_vocab_size, embedding_dims, rnn_units):
        super().__init__()
        self.decoder_embedding = keras.layers.Embedding(
            output_vocab_size, embedding_dims
        )
        self.dense_layer = keras.layers.Dense(output_vocab_size)
        self.decoder_rnncell = keras.layers.LSTMCell(rnn_units)
        self.sampler = tfa.seq2seq.sampler.TrainingSampler()
        self.attention_mechanism = self.build_attention_mechanism(rnn_units, None, None)
        self.rnn_cell = self.build_rnn_cell(rnn_units)
        self.decoder = tfa.seq2seq.BasicDecoder(
            self.rnn_cell, sampler=self.sampler, output_layer=self.dense_layer
        )

    def build_attention_mechanism(self, units, memory, memory_sequence_length):
        return tfa.seq2seq.LuongAttention(
            units, memory=memory, memory_sequence_length=memory_sequence_length
        )

    def build_rnn_cell(self, units):
        return tfa.seq2seq.AttentionWrapper(
            self.decoder_rnncell, self.attention_mechanism, attention_layer_size=units
        )

    def build_decoder_initial_state(self, batch_size, encoder_state, dtype):
        initial_state = self.rnn_cell.get_initial_state(
            batch_size=batch_size, dtype=dtype
        )
        return initial_state.clone(cell_state=encoder_state)


class Translator(keras.Model):
    """Teacher-forced training model: (source, decoder input) -> logits."""

    def __init__(self, vocab_size, embedding_dims, rnn_units):
        super().__init__()
        self.encoder = EncoderNetwork(vocab_size, embedding_dims, rnn_units)
        self.decoder_network = DecoderNetwork(vocab_size, embedding_dims, rnn_units)

    def build(self, input_shape):
        # The sublayers build during the first call, on real data (see main).
        super().build(input_shape)

    def encode(self, source):
        """Sets up the attention memory; returns the encoder's final [h, c]."""
        embedded = self.encoder.encoder_embedding(source)
        memory, state_h, state_c = self.encoder.encoder_rnnlayer(embedded)
        lengths = ops.sum(ops.cast(source != PAD, "int32"), axis=1)
        self.decoder_network.attention_mechanism.setup_memory(
            memory, memory_sequence_length=lengths
        )
        return [state_h, state_c]

    def call(self, inputs):
        source, decoder_input = inputs
        network = self.decoder_network
        initial_state = network.build_decoder_initial_state(
            ops.shape(source)[0], self.encode(source), "float32"
        )
        outputs, _, _ = network.decoder(
            network.decoder_embedding(decoder_input),
            initial_state=initial_state,
            sequence_length=ops.full(
                (ops.shape(source)[0],), ops.shape(decoder_input)[1]
            ),
        )
        return outputs.rnn_output

    def translate(self, source, maximum_iterations):
        """Greedy decoding with GreedyEmbeddingSampler: (batch, steps) token ids."""
        network = self.decoder_network
        batch = source.shape[0]
        initial_state = network.build_decoder_initial_state(
            batch, self.encode(source), "float32"
        )
        greedy = tfa.seq2seq.BasicDecoder(
            cell=network.rnn_cell,
            sampler=tfa.seq2seq.GreedyEmbeddingSampler(),
            output_layer=network.dense_layer,
            maximum_iterations=maximum_iterations,
        )
        outputs, _, _ = greedy(
            network.decoder_embedding.embeddings,
            start_tokens=ops.full((batch,), START, "int32"),
            end_token=END,
            initial_state=initial_state,
        )
        return ops.convert_to_numpy(outputs.sample_id)

    def translate_beam(self, source, beam_width, maximum_iterations):
        """Beam search with BeamSearchDecoder: the best beam, (batch, steps) ids."""
        network = self.decoder_network
        batch = source.shape[0]
        encoder_state = self.encode(source)
        memory = network.attention_mechanism.values
        lengths = ops.sum(ops.cast(source != PAD, "int32"), axis=1)
        network.attention_mechanism.setup_memory(
            tfa.seq2seq.tile_batch(memory, multiplier=beam_width),
            memory_sequence_length=tfa.seq2seq.tile_batch(lengths, beam_width),
        )
        initial_state = network.rnn_cell.get_initial_state(
            batch_size=batch * beam_width, dtype="float32"
        ).clone(cell_state=tfa.seq2seq.tile_batch(encoder_state, beam_width))
        decoder = tfa.seq2seq.BeamSearchDecoder(
            cell=network.rnn_cell,
            beam_width=beam_width,
            output_layer=network.dense_layer,
            maximum_iterations=maximum_iterations,
        )
        outputs, _, _ = decoder(
            network.decoder_embedding.embeddings,
            start_tokens=ops.full((batch,), START, "int32"),
            end_token=END,
            initial_state=initial_state,
        )
        return ops.convert_to_numpy(outputs.predicted_ids)[:, :, 0]

    def log_prob(self, source, predicted):
        """The model's log-probability of each predicted row, up to its END."""
        tokens = np.zeros((len(predicted), predicted.shape[1]), "int32")
        for row, ids in enumerate(predicted):
            stop = np.flatnonzero(ids == END)
            length = stop[0] + 1 if len(stop) else len(ids)
            tokens[row, :length] = ids[:length]
        inputs = np.concatenate([np.full_like(tokens[:, :1], START), tokens[:, :-1]], 1)
        logits = self([source, inputs])
        log_probs = ops.convert_to_numpy(ops.log_softmax(logits, axis=-1))
        chosen = np.take_along_axis(log_probs, tokens[..., None], axis=-1)[..., 0]
        return (chosen * (tokens != PAD)).sum(axis=1)


def exact_match(predicted, targets):
    """Share of rows whose prediction equals the target up to and including END."""
    hits = 0
    for row, target in zip(predicted, targets):
        length = int(np.argmax(target == END)) + 1
        hits += len(row) >= length and np.array_equal(row[:length], target[:length])
    return hits / len(targets)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tfa_nmt")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=12)
    parser.add_argument("--max-length", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=4096)
    parser.add_argument("--test-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--beam-width", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    sources, targets = reversal_pairs(args.train_size, args.vocab, args.max_length, rng)
    decoder_inputs = np.concatenate(
        [np.full_like(targets[:, :1], START), targets[:, :-1]], 1
    )
    model = Translator(args.vocab, args.units, args.units)
    model([sources[:2], decoder_inputs[:2]])  # builds every layer on real data
    model.compile(optimizer="adam", loss=tfa.seq2seq.SequenceLoss())
    history = model.fit(
        [sources, decoder_inputs],
        targets,
        sample_weight=(decoder_inputs != PAD).astype("float32"),
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=0,
    )
    test_sources, test_targets = reversal_pairs(
        args.test_size, args.vocab, args.max_length, rng
    )
    steps = args.max_length + 1
    predicted = model.translate(test_sources, maximum_iterations=steps)
    beam = model.translate_beam(test_sources, args.beam_width, steps)
    metrics = {
        "backend": keras.backend.backend(),
        "final_loss": float(history.history["loss"][-1]),
        "greedy_exact_match": exact_match(predicted, test_targets),
        "beam_exact_match": exact_match(beam, test_targets),
        "beam_width": args.beam_width,
        # Beam search looks for more likely outputs: its mean should not be lower.
        "greedy_mean_log_prob": float(model.log_prob(test_sources, predicted).mean()),
        "beam_mean_log_prob": float(model.log_prob(test_sources, beam).mean()),
        "example": {
            "source": test_sources[0].tolist(),
            "greedy": predicted[0].tolist(),
            "beam": beam[0].tolist(),
        },
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
