"""The attention_keras article's NMT walk-through, on Keras 3.

This is the toy neural machine translator of the article "Attention in Deep
Networks with Keras" (attention_keras, `examples/nmt/train.py`), structured as
the original: `define_nmt` builds the GRU encoder-decoder with
`AttentionLayer`, `train` fits it with `train_on_batch` on one-hot batches,
`infer_nmt` decodes greedily one step at a time while collecting the
attention weights, and `plot_attention_weights` draws them as a heatmap.
The layer's import is the only change to the model code:
`from keras_seq2seq import AttentionLayer` (was `from layers.attention ...`).

The article's English-French corpus is not shipped, so the script generates a
learnable toy "translation": sentences of English number words become the
French number words in reverse order ("one two three" -> "trois deux un").
Attention must therefore align each output word with the mirrored input word,
which the saved heatmap shows as an anti-diagonal.

The script trains, reports exact-sequence and token accuracy of greedy
decoding on held-out sentences, prints one example translation, and writes
`metrics.json`, `attention.png` and the trained `model.keras` (reloaded to
check its predictions) into `--out`. Run it with any Keras backend:

    KERAS_BACKEND=jax python examples/attention_keras_nmt.py --out runs/nmt
"""

import argparse
import json
import logging
import time
from pathlib import Path

import keras
import matplotlib
import numpy as np
from keras.layers import GRU, Concatenate, Dense, Input, TimeDistributed
from keras.models import Model

from keras_seq2seq import AttentionLayer

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

logger = logging.getLogger(__name__)

TRANSLATIONS = {
    "one": "un",
    "two": "deux",
    "three": "trois",
    "four": "quatre",
    "five": "cinq",
    "six": "six",
    "seven": "sept",
    "eight": "huit",
    "nine": "neuf",
    "ten": "dix",
    "eleven": "onze",
    "twelve": "douze",
}
EN_WORDS, FR_WORDS = list(TRANSLATIONS), list(TRANSLATIONS.values())
PAD, SOS, EOS = "<pad>", "sos", "eos"
EN_ID2WORD = dict(enumerate([PAD, *EN_WORDS]))
FR_ID2WORD = dict(enumerate([PAD, SOS, EOS, *FR_WORDS]))
FR_WORD2ID = {word: index for index, word in FR_ID2WORD.items()}
MIN_LEN, MAX_LEN = 3, 8
EN_TIMESTEPS, FR_TIMESTEPS = MAX_LEN, MAX_LEN + 2  # French adds sos and eos.


def define_nmt(hidden_size, batch_size, en_timesteps, en_vsize, fr_timesteps, fr_vsize):
    """Builds the training model and the one-step inference encoder and decoder."""
    if batch_size:
        encoder_inputs = Input(
            batch_shape=(batch_size, en_timesteps, en_vsize), name="encoder_inputs"
        )
        decoder_inputs = Input(
            batch_shape=(batch_size, fr_timesteps - 1, fr_vsize), name="decoder_inputs"
        )
    else:
        encoder_inputs = Input(shape=(en_timesteps, en_vsize), name="encoder_inputs")
        decoder_inputs = Input(
            shape=(fr_timesteps - 1, fr_vsize), name="decoder_inputs"
        )

    encoder_gru = GRU(
        hidden_size, return_sequences=True, return_state=True, name="encoder_gru"
    )
    encoder_out, encoder_state = encoder_gru(encoder_inputs)

    decoder_gru = GRU(
        hidden_size, return_sequences=True, return_state=True, name="decoder_gru"
    )
    decoder_out, decoder_state = decoder_gru(
        decoder_inputs, initial_state=encoder_state
    )

    attn_layer = AttentionLayer(name="attention_layer")
    attn_out, attn_states = attn_layer([encoder_out, decoder_out])

    decoder_concat_input = Concatenate(axis=-1, name="concat_layer")(
        [decoder_out, attn_out]
    )
    dense = Dense(fr_vsize, activation="softmax", name="softmax_layer")
    dense_time = TimeDistributed(dense, name="time_distributed_layer")
    decoder_pred = dense_time(decoder_concat_input)

    full_model = Model(inputs=[encoder_inputs, decoder_inputs], outputs=decoder_pred)
    full_model.compile(optimizer="adam", loss="categorical_crossentropy")

    # Inference models: batch size 1, sharing the trained layers.
    encoder_inf_inputs = Input(
        batch_shape=(1, en_timesteps, en_vsize), name="encoder_inf_inputs"
    )
    encoder_inf_out, encoder_inf_state = encoder_gru(encoder_inf_inputs)
    encoder_model = Model(
        inputs=encoder_inf_inputs, outputs=[encoder_inf_out, encoder_inf_state]
    )

    encoder_inf_states = Input(
        batch_shape=(1, en_timesteps, hidden_size), name="encoder_inf_states"
    )
    decoder_init_state = Input(batch_shape=(1, hidden_size), name="decoder_init")
    decoder_inf_inputs = Input(batch_shape=(1, 1, fr_vsize), name="decoder_word_inputs")

    decoder_inf_out, decoder_inf_state = decoder_gru(
        decoder_inf_inputs, initial_state=decoder_init_state
    )
    attn_inf_out, attn_inf_states = attn_layer([encoder_inf_states, decoder_inf_out])
    decoder_inf_concat = Concatenate(axis=-1, name="concat")(
        [decoder_inf_out, attn_inf_out]
    )
    decoder_inf_pred = TimeDistributed(dense)(decoder_inf_concat)
    decoder_model = Model(
        inputs=[encoder_inf_states, decoder_init_state, decoder_inf_inputs],
        outputs=[decoder_inf_pred, attn_inf_states, decoder_inf_state],
    )
    return full_model, encoder_model, decoder_model


def to_onehot(ids, num_classes):
    """One-hot encodes integer ids of any shape: (...) -> (..., num_classes).

    Unlike `keras.utils.to_categorical`, which turns `[[i]]` into (1, n),
    this keeps every axis, so one decoder input word is (1, 1, n).
    """
    return np.eye(num_classes, dtype="float32")[np.asarray(ids)]


def train(full_model, en_seq, fr_seq, batch_size, n_epochs):
    """Trains with teacher forcing on full batches; returns the last epoch's loss."""
    en_vsize = full_model.inputs[0].shape[-1]
    fr_vsize = full_model.inputs[1].shape[-1]
    loss = float("nan")
    for epoch in range(n_epochs):
        losses = []
        for start in range(0, len(en_seq) - batch_size + 1, batch_size):
            en_onehot = to_onehot(en_seq[start : start + batch_size], en_vsize)
            fr_onehot = to_onehot(fr_seq[start : start + batch_size], fr_vsize)
            losses.append(
                full_model.train_on_batch(
                    [en_onehot, fr_onehot[:, :-1]], fr_onehot[:, 1:]
                )
            )
        loss = float(np.mean(losses))
        logger.info("Loss in epoch %d: %.4f", epoch + 1, loss)
    return loss


def infer_nmt(encoder_model, decoder_model, test_en_seq, en_vsize, fr_vsize):
    """Greedy decoding of one sentence (1, en_timesteps) of word ids.

    Returns the `(word_index, attention)` pair of every decoding step, with
    `attention` of shape (1, 1, en_timesteps); decoding stops after `eos`
    (kept as the last pair) or after FR_TIMESTEPS - 1 steps. The models run
    with `predict_on_batch`, much faster than `predict` for one sample.
    """
    enc_outs, dec_state = encoder_model.predict_on_batch(
        to_onehot(test_en_seq, en_vsize)
    )
    dec_ind = FR_WORD2ID[SOS]
    attention_weights = []
    for _ in range(FR_TIMESTEPS - 1):
        dec_out, attention, dec_state = decoder_model.predict_on_batch(
            [enc_outs, dec_state, to_onehot([[dec_ind]], fr_vsize)]
        )
        dec_ind = int(np.argmax(dec_out, axis=-1)[0, 0])
        attention_weights.append((dec_ind, attention))
        if dec_ind == FR_WORD2ID[EOS]:
            break
    return attention_weights


def plot_attention_weights(
    encoder_inputs, attention_weights, en_id2word, fr_id2word, filename
):
    """Saves the attention as a heatmap: source words down, predicted words across."""
    attention_mat = np.stack([attn.reshape(-1) for _, attn in attention_weights], 1)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(attention_mat, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(np.arange(attention_mat.shape[1]))
    ax.set_yticks(np.arange(attention_mat.shape[0]))
    ax.set_xticklabels([fr_id2word[ind] for ind, _ in attention_weights], rotation=90)
    ax.set_yticklabels([en_id2word[ind] for ind in np.ravel(encoder_inputs)])
    ax.set_xlabel("predicted (French)")
    ax.set_ylabel("source (English)")
    fig.tight_layout()
    fig.savefig(filename)
    plt.close(fig)


def generate_data(rng, size):
    """Distinct toy sentence pairs as padded id arrays (size, EN/FR_TIMESTEPS).

    English is pre-padded as in the original; French is `sos`, the words
    translated in reverse order, `eos`, then post-padded.
    """
    sentences = set()
    while len(sentences) < size:
        length = rng.integers(MIN_LEN, MAX_LEN + 1)
        sentences.add(tuple(rng.integers(1, len(EN_WORDS) + 1, size=length)))
    en_seq = np.zeros((size, EN_TIMESTEPS), dtype="int32")
    fr_seq = np.zeros((size, FR_TIMESTEPS), dtype="int32")
    offset = FR_WORD2ID[FR_WORDS[0]] - 1  # English id i -> French id i + offset.
    ordered = sorted(sentences)
    for row, index in enumerate(rng.permutation(len(ordered))):
        words = np.array(ordered[index])
        en_seq[row, EN_TIMESTEPS - len(words) :] = words
        fr_words = [FR_WORD2ID[SOS], *(words[::-1] + offset), FR_WORD2ID[EOS]]
        fr_seq[row, : len(fr_words)] = fr_words
    return en_seq, fr_seq


def target_words(fr_row):
    """The word ids of a French id row, without `sos`, `eos` and padding."""
    return [ind for ind in fr_row if ind > FR_WORD2ID[EOS]]


def predicted_words(attention_weights):
    """The word ids decoded by `infer_nmt`, without the final `eos`."""
    return [ind for ind, _ in attention_weights if ind != FR_WORD2ID[EOS]]


def evaluate(encoder_model, decoder_model, en_seq, fr_seq):
    """Greedy-decodes every sentence; returns exact and token accuracy, predictions.

    Token accuracy counts the target words matched at their position.
    """
    en_vsize, fr_vsize = len(EN_ID2WORD), len(FR_ID2WORD)
    exact, correct, total, predictions = 0, 0, 0, []
    for en_row, fr_row in zip(en_seq, fr_seq, strict=True):
        pairs = infer_nmt(
            encoder_model, decoder_model, en_row[None], en_vsize, fr_vsize
        )
        predicted, target = predicted_words(pairs), target_words(fr_row)
        exact += predicted == target
        correct += sum(p == t for p, t in zip(predicted, target, strict=False))
        total += len(target)
        predictions.append(pairs)
    return exact / len(en_seq), correct / total, predictions


def check_reload(full_model, path, en_seq, fr_seq, batch_size):
    """Saves the full model, reloads it and returns the largest prediction change."""
    full_model.save(path)
    reloaded = keras.models.load_model(path)
    inputs = [
        to_onehot(en_seq[:batch_size], len(EN_ID2WORD)),
        to_onehot(fr_seq[:batch_size, :-1], len(FR_ID2WORD)),
    ]
    before = full_model.predict_on_batch(inputs)
    after = reloaded.predict_on_batch(inputs)
    return float(np.max(np.abs(before - after)))


def words(ids, id2word):
    """A sentence from word ids, padding left out."""
    return " ".join(id2word[ind] for ind in ids if ind)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--out", type=Path, default=Path("runs/attention_keras_nmt"), help="output dir")
    add("--epochs", type=int, default=10, help="training epochs")
    add("--hidden", type=int, default=64, help="GRU hidden size")
    add("--train-size", type=int, default=5000, help="training sentence pairs")
    add("--test-size", type=int, default=500, help="held-out sentence pairs")
    add("--seed", type=int, default=0, help="seed of the data and the weights")
    add("--batch-size", type=int, default=64, help="training batch size")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    en_seq, fr_seq = generate_data(
        np.random.default_rng(args.seed), args.train_size + args.test_size
    )
    train_en, test_en = en_seq[: args.train_size], en_seq[args.train_size :]
    train_fr, test_fr = fr_seq[: args.train_size], fr_seq[args.train_size :]

    full_model, encoder_model, decoder_model = define_nmt(
        hidden_size=args.hidden,
        batch_size=args.batch_size,
        en_timesteps=EN_TIMESTEPS,
        en_vsize=len(EN_ID2WORD),
        fr_timesteps=FR_TIMESTEPS,
        fr_vsize=len(FR_ID2WORD),
    )
    loss = train(full_model, train_en, train_fr, args.batch_size, args.epochs)
    exact, token, predictions = evaluate(encoder_model, decoder_model, test_en, test_fr)
    print(f"Exact-sequence accuracy: {exact:.4f}  token accuracy: {token:.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    reload_diff = check_reload(
        full_model, args.out / "model.keras", train_en, train_fr, args.batch_size
    )
    print(f"Reloaded model.keras: max prediction difference {reload_diff:.2e}")

    source, pairs = test_en[0], predictions[0]
    print(f"English: {words(source, EN_ID2WORD)}")
    print(f"French:  {words(predicted_words(pairs), FR_ID2WORD)}")
    print(f"Target:  {words(target_words(test_fr[0]), FR_ID2WORD)}")
    plot_attention_weights(
        source, pairs, EN_ID2WORD, FR_ID2WORD, args.out / "attention.png"
    )

    metrics = {
        "backend": keras.backend.backend(),
        "exact_match": exact,
        "token_accuracy": token,
        "final_loss": loss,
        "reload_max_abs_diff": reload_diff,
        "seconds": time.perf_counter() - started,
        **{key: value for key, value in vars(args).items() if key != "out"},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    main()
