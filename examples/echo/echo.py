"""The tutorial's echo experiments: encoder-decoder with and without attention.

Tasks (one-hot sequences of `--features` symbols):
- `first2` (the tutorial's): 5 random symbols in; out: the first 2, then zeros.
- `last_first` (from its comments): 10 steps holding 4 to 9 nonzero symbols
  (1..7; 0 pads), out: the last nonzero symbol, then the first, then zeros.

Protocols:
- `single` (the tutorial's): `--steps` updates on one fresh pair each, then
  exact-match accuracy on 100 fresh pairs. The tutorial called
  `model.fit(X, y, epochs=1)` per pair; `train_on_batch` is the same update
  without fit's per-call set-up.
- `batched`: the same number of fresh pairs, `--batch-size` at a time.

Models: the tutorial's baseline LSTM(150)-RepeatVector-LSTM(150)-Dense, its
LSTM(150) + AttentionDecoder(150, features), and `teacher_forcing`: the same
decoder trained on the shifted targets, then decoding from its own (argmax)
predictions.

    KERAS_BACKEND=jax python examples/echo/echo.py --task first2 --protocol single --repeats 10
    KERAS_BACKEND=jax python examples/echo/echo.py --task first2 --protocol batched
    KERAS_BACKEND=jax python examples/echo/echo.py --task last_first --protocol batched
"""

import argparse
import json
import time

import keras
import numpy as np
from keras.layers import LSTM, Dense, Input, RepeatVector, TimeDistributed

from keras_seq2seq import AttentionDecoder

TASKS = {
    "first2": {"features": 50, "steps_in": 5},
    "last_first": {"features": 8, "steps_in": 10},
}


def make_pairs(task, count, features, steps_in, rng):
    """Integer input and target sequences, shape (count, steps_in) each."""
    if task == "first2":
        x = rng.integers(0, features, (count, steps_in))
        y = np.zeros_like(x)
        y[:, :2] = x[:, :2]
        return x, y
    lengths = rng.integers(4, 10, count)
    x = rng.integers(1, features, (count, steps_in))
    x[np.arange(steps_in)[None] >= lengths[:, None]] = 0
    y = np.zeros_like(x)
    y[:, 0] = x[np.arange(count), lengths - 1]
    y[:, 1] = x[:, 0]
    return x, y


def one_hot(sequences, features):
    return np.eye(features, dtype="float32")[sequences]


def compiled(model):
    model.compile(
        loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"]
    )
    return model


def baseline_model(steps_in, features):
    model = keras.Sequential()
    model.add(keras.Input((steps_in, features)))
    model.add(LSTM(150))
    model.add(RepeatVector(steps_in))
    model.add(LSTM(150, return_sequences=True))
    model.add(TimeDistributed(Dense(features, activation="softmax")))
    return compiled(model), model


def attention_model(steps_in, features):
    model = keras.Sequential()
    model.add(keras.Input((steps_in, features)))
    model.add(LSTM(150, return_sequences=True))
    model.add(AttentionDecoder(150, features))
    return compiled(model), model


def teacher_forcing_model(steps_in, features):
    """A training model fed the shifted targets and a free-running twin."""
    source, shifted_targets = Input((steps_in, features)), Input((steps_in, features))
    encoded = LSTM(150, return_sequences=True)(source)
    decoder = AttentionDecoder(150, features, greedy_feedback=True)
    training = keras.Model(
        [source, shifted_targets], decoder([encoded, shifted_targets])
    )
    return compiled(training), keras.Model(source, decoder(encoded))


MODELS = {
    "baseline": baseline_model,
    "attention": attention_model,
    "teacher_forcing": teacher_forcing_model,
}


def shift_right(targets):
    """The output preceding each step: zeros at step 0, then targets[:, :-1]."""
    return np.concatenate([np.zeros_like(targets[:, :1]), targets[:, :-1]], axis=1)


def train_and_evaluate(name, args, rng):
    """Trains one fresh model; returns (exact-match accuracy in %, seconds)."""
    features, steps_in = args.features, args.steps_in
    training, predicting = MODELS[name](steps_in, features)
    batch = 1 if args.protocol == "single" else args.batch_size
    start = time.perf_counter()
    for _ in range(args.steps // batch):
        x, y = make_pairs(args.task, batch, features, steps_in, rng)
        x, y = one_hot(x, features), one_hot(y, features)
        inputs = [x, shift_right(y)] if name == "teacher_forcing" else x
        training.train_on_batch(inputs, y)
    seconds = time.perf_counter() - start
    x, y = make_pairs(args.task, args.test_pairs, features, steps_in, rng)
    predicted = predicting.predict(one_hot(x, features), verbose=0).argmax(-1)
    accuracy = 100.0 * float(np.mean(np.all(predicted == y, axis=1)))
    return accuracy, seconds


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="first2")
    parser.add_argument("--protocol", choices=["single", "batched"], default="single")
    parser.add_argument(
        "--models", nargs="+", choices=sorted(MODELS), default=["baseline", "attention"]
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--steps", type=int, default=5000, help="training pairs per model"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--test-pairs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    args.features, args.steps_in = (
        TASKS[args.task]["features"],
        TASKS[args.task]["steps_in"],
    )
    return args


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    results = {}
    for name in args.models:
        print(
            f"{name} ({args.task}, {args.protocol}, backend {keras.backend.backend()})"
        )
        runs = [train_and_evaluate(name, args, rng) for _ in range(args.repeats)]
        for accuracy, seconds in runs:
            print(f"  {accuracy:.2f}%  ({seconds:.1f} s training)")
        accuracies = [accuracy for accuracy, _ in runs]
        mean = sum(accuracies) / len(accuracies)
        print(f"  Mean Accuracy: {mean:.2f}%")
        results[name] = {
            "accuracies": accuracies,
            "mean_accuracy": mean,
            "train_seconds": [seconds for _, seconds in runs],
        }
    summary = {
        "task": args.task,
        "protocol": args.protocol,
        "steps": args.steps,
        "batch_size": 1 if args.protocol == "single" else args.batch_size,
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "results": results,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return summary


if __name__ == "__main__":
    main()
