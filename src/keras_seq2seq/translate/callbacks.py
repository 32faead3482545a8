"""Keras callbacks of the training pipeline: progress with target tokens/s and
ETA, a learning rate that follows the clock, a time budget, validation BLEU,
the best model so far, early stopping that survives a resume, and the
per-epoch history file.

Each adds what it measures to the epoch's `logs`, so callbacks later in the
list (and Keras's `History`) see it: list them in the order of this module.
"""

import collections
import math
import sys
import time

import keras
import numpy as np

from keras_seq2seq.translate import model_dir
from keras_seq2seq.translate.inference import decode_ids
from keras_seq2seq.translate.scores import bleu_score
from keras_seq2seq.validation import check_fraction, check_positive_int


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` have passed since `fit` began.

    Checked after every batch and every epoch, so training stops at batch
    granularity; Keras then still runs the epoch's validation and
    `on_epoch_end` callbacks (checkpoints, history) for the partial epoch.

    Attributes:
        spent: True once the budget stopped training.

    Example:
    >>> budget = TimeBudget(seconds=0.0)
    >>> budget.set_model(keras.Sequential())
    >>> budget.on_train_begin(); budget.on_train_batch_end(0)
    >>> budget.spent, budget.model.stop_training
    (True, True)
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = float(seconds)
        self.spent = False
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self.spent = False

    def _check(self):
        if time.monotonic() - self._start >= self.seconds:
            self.spent = True
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()


class TimeAnnealedLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's learning rate by the clock: `learning_rate` for
    the first `hold` fraction of `seconds`, then lower in a straight line to
    `final` times it when the time is up (training to a time budget rather
    than to a number of steps).

    The rate moves in `steps` equal steps, checked before every batch. It is
    set at the first batch, so a run resumed from a checkpoint starts
    at `learning_rate` whatever rate the checkpoint carried. With `seconds`
    None it stays at `learning_rate`.

    Example:
    >>> model = keras.Sequential([keras.layers.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> model.build((None, 2))
    >>> anneal = TimeAnnealedLearningRate(seconds=0.0, learning_rate=0.01)
    >>> anneal.set_model(model)
    >>> anneal.on_train_begin(); anneal.on_train_batch_begin(0)
    >>> round(float(model.optimizer.learning_rate), 6)
    0.0002
    """

    def __init__(self, seconds, learning_rate, hold=0.0, final=0.02, steps=50):
        super().__init__()
        if not 0.0 <= final <= 1.0:
            raise ValueError(f"`final` must be in [0, 1]. Received: final={final}")
        self.seconds = None if seconds is None else float(seconds)
        self.learning_rate = float(learning_rate)
        self.hold = check_fraction("hold", hold)
        self.final = final
        self.steps = check_positive_int("steps", steps)
        self._start = None
        self._step = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self._step = None

    def on_train_batch_begin(self, batch, logs=None):
        step = self._current_step()
        if step != self._step:
            self._step = step
            factor = 1.0 - (1.0 - self.final) * step / self.steps
            # On JAX, `Callback.model` writes the training state back to the
            # variables first, and the next batch reads them again.
            self.model.optimizer.learning_rate.assign(self.learning_rate * factor)

    def _current_step(self):
        if self.seconds is None:
            return 0
        if self.seconds == 0.0:
            return self.steps
        elapsed = (time.monotonic() - self._start) / self.seconds
        decayed = (elapsed - self.hold) / (1.0 - self.hold)
        return min(self.steps, max(0, math.floor(decayed * self.steps)))


class ValidationBleu(keras.callbacks.Callback):
    """Adds `val_bleu` (sacreBLEU, greedy decoding) on a fixed set of
    validation sentences to the logs at the end of each epoch.

    Decoding uses the model's compiled translate function in static-shape
    batches (`decode_ids`), compiled once per source width for the run.

    Args:
        source_ids: list of int sequences, the encoded validation sources.
        references: list of str, their reference translations.
        target_tokenizer: the `SubwordTokenizer` that detokenises the output.
        batch_size: sentences decoded together.
    """

    def __init__(self, source_ids, references, target_tokenizer, batch_size=64):
        super().__init__()
        if len(source_ids) != len(references):
            raise ValueError(
                "`source_ids` and `references` must have the same length. "
                f"Received: {len(source_ids)} and {len(references)}"
            )
        self.source_ids = list(source_ids)
        self.references = list(references)
        self.target_tokenizer = target_tokenizer
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        start = time.monotonic()
        decoded = decode_ids(self.model, self.source_ids, batch_size=self.batch_size)
        hypotheses = self.target_tokenizer.decode([d.tokens for d in decoded])
        logs["val_bleu"] = bleu_score(hypotheses, self.references)
        logs["val_bleu_seconds"] = time.monotonic() - start


class BestModel(keras.callbacks.Callback):
    """Saves the model to `path` (a `.keras` file) whenever `val_loss`
    improves on the best so far.

    The file holds an inference copy of the model: its config and weights,
    computing in float32 whatever the training dtype policy, and no optimizer
    state (the training state lives in the `BackupAndRestore` directory).
    It is written to a temporary file first and renamed, so a
    reader or an interruption never sees half a model.

    Args:
        path: the `.keras` file.
        initial_best: the best `val_loss` of earlier runs (when resuming).

    Attributes:
        best: the best `val_loss` so far (None before the first).
        improved: True if the last epoch improved it.
    """

    def __init__(self, path, initial_best=None):
        super().__init__()
        self.path = path
        self.best = initial_best
        self.improved = False
        self._copy = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get("val_loss")
        self.improved = current is not None and (
            self.best is None or current < self.best
        )
        if self.improved:
            self.best = current
            self.save()

    def save(self):
        if self._copy is None:
            config = {**self.model.get_config(), "dtype": "float32"}
            self._copy = self.model.__class__.from_config(config)
            self._copy.build()
        self._copy.set_weights(self.model.get_weights())
        partial = self.path.with_name("partial." + self.path.name)
        self._copy.save(partial)
        partial.replace(self.path)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` on `val_loss` that can start from an earlier run's
    state: the best value so far and the epochs since it.

    The best weights are not kept in memory: `BestModel` saves them.

    Args:
        patience: epochs without improvement before stopping.
        initial_best: the best `val_loss` of earlier runs, or None.
        initial_wait: epochs run since that best.
    """

    def __init__(self, patience, initial_best=None, initial_wait=0):
        super().__init__(monitor="val_loss", mode="min", patience=patience)
        self.initial_best = initial_best
        self.initial_wait = initial_wait

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.initial_best is not None:
            self.best = self.initial_best
            self.wait = self.initial_wait


class TrainingProgress(keras.callbacks.Callback):
    """Training progress: loss, target tokens per second and ETA.

    In a terminal, one line is redrawn in place a few times a second; in a
    log file (or through a `log` function) a line is written every
    `interval` seconds. Each epoch ends with a summary line: loss, every
    validation figure in the logs, time and throughput.

    Throughput counts real target tokens (the `eos` included, padding left
    out), over the last `window` seconds for the running figure (so the first
    batches' compilation does not drag it down for long) and over the whole
    epoch for the summary. The epoch's `logs` gain `target_tokens`,
    `tokens_per_second`, `train_seconds` (training batches only) and
    `batches`.

    Args:
        epochs: the `epochs` given to `fit`.
        tokens_per_batch: function `epoch -> array`, the target tokens of each
            batch of that epoch (called at the start of each epoch, after the
            dataset is set to that epoch).
        log: function of one line; None writes to `sys.stderr`.
        dynamic: redraw one line in place; default: `log` is None and
            `sys.stderr` is a terminal.
        interval: seconds between progress lines when not dynamic.
        window: seconds the running throughput is measured over.
        best_model: optional `BestModel`, to mark improved epochs.
    """

    def __init__(
        self,
        epochs,
        tokens_per_batch,
        log=None,
        dynamic=None,
        interval=60.0,
        window=30.0,
        best_model=None,
    ):
        super().__init__()
        self.epochs = epochs
        self.tokens_per_batch = tokens_per_batch
        self.log = log or _stderr_line
        if dynamic is None:
            dynamic = log is None and sys.stderr.isatty()
        self.dynamic = bool(dynamic)
        self.interval = 0.25 if self.dynamic else float(interval)
        self.window = float(window)
        self.best_model = best_model

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._tokens = np.asarray(self.tokens_per_batch(epoch), np.int64)
        self._total = int(self._tokens.sum())
        self._done_tokens = 0
        self._batches = 0
        self._start = self._last_batch = self._last_shown = time.monotonic()
        self._recent = collections.deque([(self._start, 0)])

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        self._batches = batch + 1
        self._done_tokens += (
            int(self._tokens[batch]) if batch < len(self._tokens) else 0
        )
        self._last_batch = now
        self._recent.append((now, self._done_tokens))
        while len(self._recent) > 2 and now - self._recent[1][0] >= self.window:
            self._recent.popleft()
        if now - self._last_shown >= self.interval:
            self._last_shown = now
            self._show((logs or {}).get("loss"))

    def _rate(self):
        (first_time, first_tokens), (last_time, last_tokens) = (
            self._recent[0],
            self._recent[-1],
        )
        elapsed = last_time - first_time
        return (last_tokens - first_tokens) / elapsed if elapsed > 0 else 0.0

    def _show(self, loss):
        rate = self._rate()
        steps = len(self._tokens)
        remaining = self._total - self._done_tokens
        eta = _clock(remaining / rate) if rate > 0 else "?"
        loss_text = "?" if loss is None else f"{loss:.3f}"
        epoch = f"epoch {self._epoch + 1}/{self.epochs}"
        if self.dynamic:
            filled = int(20 * self._batches / max(steps, 1))
            bar = "=" * filled + (">" if filled < 20 else "") + " " * (19 - filled)
            line = (
                f"{epoch} [{bar}] {self._batches}/{steps}  loss {loss_text}  "
                f"{rate:,.0f} tok/s  ETA {eta}"
            )
            sys.stderr.write("\r" + line + "\x1b[K")
            sys.stderr.flush()
        else:
            percent = 100 * self._batches // max(steps, 1)
            self.log(
                f"{epoch}  batch {self._batches}/{steps} ({percent}%)  loss "
                f"{loss_text}  {rate:,.0f} target tokens/s  ETA {eta}"
            )

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        seconds = max(self._last_batch - self._start, 1e-9)
        logs["target_tokens"] = float(self._done_tokens)
        logs["train_seconds"] = seconds
        logs["tokens_per_second"] = self._done_tokens / seconds
        logs["batches"] = float(self._batches)
        if self.dynamic:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
        steps = len(self._tokens)
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        if self._batches < steps:
            parts.append(f"stopped after {self._batches}/{steps} batches")
        parts.append(f"loss {logs.get('loss', math.nan):.3f}")
        for key in sorted(logs, key=lambda k: (k != "val_loss", k)):
            if key.startswith("val_") and not key.endswith("_seconds"):
                parts.append(f"{key} {logs[key]:.{1 if 'bleu' in key else 3}f}")
        parts.append(f"{logs['tokens_per_second']:,.0f} target tokens/s")
        parts.append(f"{_clock(seconds)} training")
        if "val_bleu_seconds" in logs:
            parts.append(f"{_clock(logs['val_bleu_seconds'])} BLEU decoding")
        line = "  ".join(parts)
        if self.best_model is not None and self.best_model.improved:
            line += "  [best so far: saved]"
        self.log(line)


class HistoryRecorder(keras.callbacks.Callback):
    """Writes `history.json` after every epoch: one record per epoch with
    every figure in the logs, the epoch's wall time, whether it ran all its
    batches, and the records of earlier runs first (when resuming).

    Args:
        path: the JSON file.
        steps: batches in a full epoch.
        records: the records of the epochs already run.
    """

    def __init__(self, path, steps, records=()):
        super().__init__()
        self.path = path
        self.steps = steps
        self.records = list(records)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1}
        record.update(
            {key: float(value) for key, value in sorted((logs or {}).items())}
        )
        record["seconds"] = time.monotonic() - self._start
        record["complete"] = record.get("batches", self.steps) >= self.steps
        self.records.append(record)
        model_dir.write_json(self.path, {"epochs": self.records})


def _clock(seconds):
    """`seconds` as m:ss or h:mm:ss.

    Example:
    >>> _clock(75.2), _clock(3725)
    ('1:15', '1:02:05')
    """
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def _stderr_line(line):
    print(line, file=sys.stderr, flush=True)
