"""Training a translation model end to end, into a model directory that
`load` and `evaluate` read (see `keras_seq2seq.translate.model_dir`).

`train` reads and splits the corpus (the split is recorded), trains one
SentencePiece model per language on the training split, batches by length,
builds a `Translator` and runs Keras `fit` with validation loss and BLEU
each epoch, the best model saved, a checkpoint of the training state each
epoch, early stopping and an optional time budget. Running the same call
again continues from the last checkpoint.
"""

import datetime
import importlib.metadata
import os
import pathlib
import platform
import shutil
import sys
import time

import keras
import numpy as np

from keras_seq2seq.backend.compile import training_jit_compile
from keras_seq2seq.optimizers import FusedAdam
from keras_seq2seq.translate import callbacks as pipeline_callbacks
from keras_seq2seq.translate import distribute, model_dir
from keras_seq2seq.translate.batching import BucketedBatches
from keras_seq2seq.translate.config import TrainingConfig
from keras_seq2seq.translate.corpus import default_corpus_path, read_pairs
from keras_seq2seq.translate.errors import PipelineError
from keras_seq2seq.translate.model import Translator
from keras_seq2seq.translate.split import load_split, split_corpus
from keras_seq2seq.translate.tokenizer import SubwordTokenizer

# Files `train(resume=False)` replaces in an existing directory.
_OUTPUTS = (
    model_dir.CONFIG_FILE,
    model_dir.HISTORY_FILE,
    model_dir.MODEL_FILE,
    f"{model_dir.SOURCE_TOKENIZER}.model",
    f"{model_dir.TARGET_TOKENIZER}.model",
    "split.json",
    "valid.tsv",
    "test.tsv",
)


def train(out_dir, config=None, *, resume=True, callbacks=(), log=None, **options):
    """Trains a translation model into `out_dir`.

    The command line first calls `keras_seq2seq.keep_freed_memory()` (torch on a
    2-core Linux machine: 1.08 to 1.47x faster); call it too with this API.

    Example: `train("model", epochs=5, max_minutes=30)`, or with a
    `TrainingConfig`: `train("model", TrainingConfig(epochs=5))`.

    Args:
        out_dir: the model directory (created if needed).
        config: a `TrainingConfig`; None for the defaults.
        resume: continue from the checkpoint in `out_dir` if there is one
            (the directory must have been trained with the same data and
            model options); False starts over, replacing it.
        callbacks: extra Keras callbacks for `fit`.
        log: function of one line for messages; None writes to stderr.
        **options: `TrainingConfig` fields, replacing those of `config`
            (see `keras-seq2seq train --help`). With `max_minutes`, training
            stops at a batch boundary after that many minutes; the partial
            epoch is still validated and saved, and the learning rate is held
            for the first `learning_rate_hold` of the minutes, then lowered
            linearly to 2% of it (`TimeAnnealedLearningRate`).

    Returns:
        The dict written to `config.json`; its `"options"` are the
        `TrainingConfig` of the run.

    Raises:
        PipelineError: an invalid option, an unreadable or empty corpus, or a
            model directory trained with other options.
    """
    options = TrainingConfig.from_options(config, **options)
    log = log or _stderr_line
    distribute.initialize_from_environment()
    replica_scope = distribute.data_parallel(options.distribute)  # fails early
    run_start, run_started = time.monotonic(), _now()
    out_dir = pathlib.Path(out_dir)
    corpus = _read_corpus(options.pairs, options.reverse)
    record = _previous_config(out_dir, resume, options, corpus)
    log(
        f"keras-seq2seq {_version('keras-seq2seq')}: Keras {keras.__version__}, "
        f"backend {keras.backend.backend()}"
    )
    log(corpus.summary())
    if record is None:
        split, tokenizers, record = _prepare(out_dir, corpus, options, log)
    else:
        split, tokenizers = _reload(out_dir, corpus)
    log(split.summary())
    source_tokenizer, target_tokenizer = tokenizers
    log(
        f"tokenizers: source {source_tokenizer.vocab_size:,} pieces, target "
        f"{target_tokenizer.vocab_size:,} pieces (trained on the training split)"
    )

    train_ids = _training_ids(split.train, tokenizers, options, log)
    valid_ids = _encode(split.valid, tokenizers)
    batching = options.batching()
    with replica_scope as replicas:
        batching["batch_multiple"] = distribute.global_batch_multiple()
        batches = BucketedBatches(*train_ids, seed=options.seed, **batching)
        valid_batches = BucketedBatches(
            *valid_ids, max_length=options.max_length, shuffle=False, **batching
        )
        log(f"training batches: {batches.summary()}")
        log(f"validation batches: {valid_batches.summary()}")

        keras.utils.set_random_seed(options.seed)
        model = Translator(
            source_tokenizer.vocab_size,
            target_tokenizer.vocab_size,
            **options.model_options(),
            dtype=options.dtype_policy,
        )
        model.build()
        model.compile(
            optimizer=FusedAdam(
                learning_rate=options.learning_rate, clipnorm=options.clipnorm
            ),
            # The mean over the real target tokens of each global batch, on
            # one device or several (with the weights of `GlobalBatches`).
            loss=distribute.token_mean_loss(options.label_smoothing),
            jit_compile=training_jit_compile(distributed=replicas.engine is not None),
        )
        if replicas.num_replicas > 1:
            engine = type(replicas.engine).__name__
            log(f"data parallel: {replicas.num_replicas} replicas ({engine})")
            note = distribute.gradient_clipping_warning(model.optimizer)
            if note:
                log(f"warning: {note}")
        record["model"] = {
            key: value
            for key, value in model.get_config().items()
            if key not in ("name", "trainable", "dtype")
        }
        record["model"]["parameters"] = int(model.count_params())
        log(
            f"model: {_describe_model(model)}, {model.count_params():,} parameters; "
            f"FusedAdam(learning_rate={options.learning_rate:g}, "
            f"clipnorm={options.clipnorm:g}), rate held for "
            f"{options.learning_rate_hold:.0%} of the minutes; label smoothing "
            f"{options.label_smoothing:g}; dtype policy {options.dtype_policy}; "
            f"jit_compile={bool(model.jit_compile)}"
        )

        backup_dir = out_dir / model_dir.BACKUP_DIR
        initial_epoch = _checkpoint_epoch(backup_dir)
        records = _history(out_dir)[:initial_epoch]
        state = record["training"]
        state["jit_compile"] = bool(model.jit_compile)
        if initial_epoch:
            log(
                f"resuming after epoch {initial_epoch} from the checkpoint in '{backup_dir}'"
            )
        done = _nothing_to_do(state, initial_epoch, options.epochs)
        if done:
            log(done)
        else:
            target_lengths = np.array([len(t) + 1 for t in train_ids[1]])
            best_so_far = _best(records)
            best_model = pipeline_callbacks.BestModel(
                out_dir / model_dir.MODEL_FILE,
                initial_best=None if best_so_far is None else best_so_far["val_loss"],
            )
            early_stopping = pipeline_callbacks.ResumableEarlyStopping(
                options.patience,
                initial_best=best_model.best,
                initial_wait=0
                if best_so_far is None
                else initial_epoch - best_so_far["epoch"],
            )
            budget = None
            budget_seconds = (
                None if options.max_minutes is None else 60.0 * options.max_minutes
            )
            fit_callbacks = [batches.epoch_callback()]
            if budget_seconds is not None:
                budget = pipeline_callbacks.TimeBudget(budget_seconds)
                fit_callbacks.append(budget)
            fit_callbacks.append(
                pipeline_callbacks.TimeAnnealedLearningRate(
                    budget_seconds,
                    options.learning_rate,
                    hold=options.learning_rate_hold,
                )
            )
            fit_callbacks.extend(callbacks)
            if options.bleu_sentences:
                fit_callbacks.append(
                    _validation_bleu(split.valid, tokenizers, options.bleu_sentences)
                )
            fit_callbacks += [
                best_model,
                early_stopping,
                pipeline_callbacks.TrainingProgress(
                    options.epochs,
                    lambda epoch: [
                        target_lengths[batches.pair_indices(i)].sum()
                        for i in range(len(batches))
                    ],
                    log=None if log is _stderr_line else log,
                    best_model=best_model,
                ),
                pipeline_callbacks.HistoryRecorder(
                    out_dir / model_dir.HISTORY_FILE, len(batches), records
                ),
                keras.callbacks.BackupAndRestore(
                    str(backup_dir), delete_checkpoint=False
                ),
            ]
            budget_text = (
                ""
                if budget is None
                else f", at most {options.max_minutes:g} minutes this run (the "
                f"learning rate is held for {options.learning_rate_hold:.0%} of "
                "them, then falls linearly to 2% of its value)"
            )
            log(
                f"training epochs {initial_epoch + 1}-{options.epochs}{budget_text} "
                f"(early stopping after {options.patience} epochs without a lower "
                "validation loss)"
            )
            fit_start = time.monotonic()
            state["status"] = "training"
            _write_config(out_dir, record)
            try:
                model.fit(
                    distribute.GlobalBatches(batches),
                    validation_data=distribute.GlobalBatches(valid_batches),
                    epochs=options.epochs,
                    initial_epoch=initial_epoch,
                    shuffle=False,
                    verbose=0,
                    callbacks=fit_callbacks,
                )
            except KeyboardInterrupt:
                state["status"] = "interrupted"
                _finish(record, out_dir, fit_start, run_start, run_started)
                log(
                    f"interrupted; the checkpoint of epoch {_checkpoint_epoch(backup_dir)} "
                    f"is in '{backup_dir}': run the same command again to resume"
                )
                raise
            if budget is not None and budget.spent:
                state["stopped"] = "time_budget"
            elif early_stopping.stopped_epoch:
                state["stopped"] = "early_stopping"
            else:
                state["stopped"] = "epochs"
            state["status"] = "trained"
            _finish(record, out_dir, fit_start, run_start, run_started)
    _log_result(record, out_dir, log)
    return record


def _read_corpus(pairs, reverse):
    path = default_corpus_path() if pairs is None else pairs
    try:
        return read_pairs(path, reverse=reverse)
    except FileNotFoundError as error:
        raise PipelineError(str(error)) from error
    except ValueError as error:
        raise PipelineError(f"Empty or unusable corpus: {error}") from error
    except OSError as error:
        raise PipelineError(f"Cannot read the corpus '{path}': {error}") from error


def _previous_config(out_dir, resume, options, corpus):
    """The record of an earlier run to continue, or None to start afresh
    (after removing an earlier run's files when `resume` is False)."""
    if not (out_dir / model_dir.CONFIG_FILE).exists():
        return None
    if not resume:
        for name in _OUTPUTS:
            (out_dir / name).unlink(missing_ok=True)
        shutil.rmtree(out_dir / model_dir.BACKUP_DIR, ignore_errors=True)
        return None
    record = model_dir.read_config(out_dir)
    if "options" not in record:
        raise PipelineError(
            f"'{out_dir}' was trained by an older keras-seq2seq that did not "
            "record its options: use another output directory, or start over "
            "(--restart / resume=False)"
        )
    now = {**options.fixed(), "corpus_sha256": corpus.sha256}
    before = {name: record["options"].get(name) for name in now}
    before["corpus_sha256"] = record["data"].get("sha256")
    changed = [
        f"{name} {before.get(name)!r} -> {now[name]!r}"
        for name in now
        if before.get(name) != now[name]
    ]
    if changed:
        raise PipelineError(
            f"'{out_dir}' holds a model trained with other data or model options "
            f"({'; '.join(changed)}): use another output directory, or start over "
            "(--restart / resume=False)"
        )
    record["options"] = options.to_dict()
    return record


def _prepare(out_dir, corpus, options, log):
    """Splits the corpus and trains the tokenizers of a new run."""
    try:
        split = split_corpus(
            corpus, options.test_size, options.valid_size, options.seed
        )
    except ValueError as error:
        raise PipelineError(str(error)) from error
    out_dir.mkdir(parents=True, exist_ok=True)
    split.save(out_dir)
    start = time.monotonic()
    tokenizers = []
    for name, side in (
        (model_dir.SOURCE_TOKENIZER, split.train.sources),
        (model_dir.TARGET_TOKENIZER, split.train.targets),
    ):
        try:
            tokenizer = SubwordTokenizer.train(side, vocab_size=options.vocab_size)
        except ValueError as error:
            raise PipelineError(f"{name} tokenizer: {error}") from error
        tokenizer.save(out_dir, name)
        tokenizers.append(tokenizer)
    log(f"trained the SentencePiece models in {time.monotonic() - start:.1f} s")
    now = _now()
    record = {
        "format": model_dir.CONFIG_FORMAT,
        "created": now,
        "model": {},
        "tokenizers": {
            name: {
                "file": f"{name}.model",
                "type": "sentencepiece unigram",
                "vocab_size": tokenizer.vocab_size,
            }
            for name, tokenizer in zip(
                (model_dir.SOURCE_TOKENIZER, model_dir.TARGET_TOKENIZER), tokenizers
            )
        },
        "data": {
            "pairs": corpus.path,
            "sha256": corpus.sha256,
            "reverse": corpus.reverse,
            "skipped_lines": corpus.skipped,
            "split_seed": options.seed,
            "sizes": {
                "train": len(split.train),
                "valid": len(split.valid),
                "test": len(split.test),
            },
        },
        "options": options.to_dict(),
        "training": {
            "status": "prepared",
            "epochs_run": 0,
            "seconds": 0.0,
            "runs": [],
        },
    }
    _write_config(out_dir, record)
    return split, tokenizers, record


def _reload(out_dir, corpus):
    try:
        split = load_split(out_dir, corpus)
        tokenizers = [
            SubwordTokenizer.load(out_dir, name)
            for name in (model_dir.SOURCE_TOKENIZER, model_dir.TARGET_TOKENIZER)
        ]
    except (OSError, ValueError) as error:
        raise PipelineError(
            f"Cannot resume in '{out_dir}', its files are damaged: {error}"
        ) from error
    return split, tokenizers


def _encode(pairs, tokenizers):
    return (
        tokenizers[0].encode(list(pairs.sources)),
        tokenizers[1].encode(list(pairs.targets)),
    )


def _training_ids(train_pairs, tokenizers, options, log):
    """Encoded training pairs: short enough, sampled if asked."""
    sources, targets = _encode(train_pairs, tokenizers)
    limit = options.max_length
    kept = [
        i
        for i, (s, t) in enumerate(zip(sources, targets))
        if len(s) <= limit and len(t) + 1 <= limit
    ]
    dropped = len(sources) - len(kept)
    if options.max_train_pairs and options.max_train_pairs < len(kept):
        rng = np.random.default_rng(options.seed)
        kept = sorted(rng.choice(kept, options.max_train_pairs, replace=False))
    if not kept:
        raise PipelineError(
            f"No training pair is at most {limit} pieces long: raise max_length"
        )
    sample = (
        f", a sample of {len(kept):,} used (max_train_pairs)"
        if options.max_train_pairs and len(kept) == options.max_train_pairs
        else ""
    )
    log(
        f"training pairs: {len(sources):,}, {dropped:,} longer than {limit} pieces "
        f"left out{sample}"
    )
    return [sources[i] for i in kept], [targets[i] for i in kept]


def _validation_bleu(valid, tokenizers, count):
    """A `ValidationBleu` over `count` validation pairs spread evenly over
    the split (the corpus is ordered by length: the first would be short)."""
    indices = np.unique(
        np.linspace(0, len(valid) - 1, min(count, len(valid))).astype(int)
    )
    sources = tokenizers[0].encode([valid.sources[i] for i in indices])
    references = [valid.targets[i] for i in indices]
    return pipeline_callbacks.ValidationBleu(sources, references, tokenizers[1])


def _checkpoint_epoch(backup_dir):
    """The epochs the training state in `backup_dir` has completed (0 if none)."""
    path = backup_dir / "training_metadata.json"
    if not path.is_file():
        return 0
    return int(model_dir.read_json(path, "The training checkpoint").get("epoch", 0))


def _history(out_dir):
    path = out_dir / model_dir.HISTORY_FILE
    if not path.is_file():
        return []
    return list(model_dir.read_json(path, "The training history").get("epochs", []))


def _best(records):
    scored = [r for r in records if r.get("val_loss") is not None]
    return min(scored, key=lambda r: r["val_loss"]) if scored else None


def _nothing_to_do(state, initial_epoch, epochs):
    if (
        state.get("stopped") == "early_stopping"
        and state.get("epochs_run") == initial_epoch
    ):
        return (
            f"training already stopped early after epoch {initial_epoch}: nothing to do "
            "(start over with --restart / resume=False)"
        )
    if initial_epoch >= epochs:
        return (
            f"already trained {initial_epoch} epochs (epochs={epochs}): nothing to do"
        )
    return None


def _finish(record, out_dir, fit_start, run_start, run_started):
    """Records the run in the record and writes it."""
    records = _history(out_dir)
    state = record["training"]
    fit_seconds = time.monotonic() - fit_start
    state["seconds"] = float(state.get("seconds", 0.0)) + fit_seconds
    state["epochs_run"] = len(records)
    best = _best(records)
    if best is not None:
        state["best_epoch"] = best["epoch"]
        state["best_val_loss"] = best["val_loss"]
        if "val_bleu" in best:
            state["best_val_bleu"] = best["val_bleu"]
    tokens = sum(r.get("target_tokens", 0.0) for r in records)
    seconds = sum(r.get("train_seconds", 0.0) for r in records)
    if seconds:
        state["target_tokens_per_second"] = tokens / seconds
    state["runs"].append(
        {
            "started": run_started,
            "seconds": fit_seconds,
            "total_seconds": time.monotonic() - run_start,
            "epochs_run": len(records),
            "status": state["status"],
            "stopped": state.get("stopped"),
            "backend": keras.backend.backend(),
        }
    )
    _write_config(out_dir, record)


def _write_config(out_dir, record):
    record["updated"] = _now()
    record["backend"] = keras.backend.backend()
    record["versions"] = _versions()
    record["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    model_dir.write_json(out_dir / model_dir.CONFIG_FILE, record)


def _log_result(record, out_dir, log):
    state = record["training"]
    stopped = {
        "time_budget": "time budget spent",
        "early_stopping": "early stopping",
        "epochs": "all epochs run",
    }.get(state.get("stopped"), state.get("status"))
    parts = [f"{state.get('epochs_run', 0)} epochs ({stopped})"]
    parts.append(f"{_minutes(state.get('seconds', 0.0))} of training in all")
    if "target_tokens_per_second" in state:
        parts.append(f"{state['target_tokens_per_second']:,.0f} target tokens/s")
    log("trained: " + ", ".join(parts))
    if "best_epoch" in state:
        bleu = (
            f", val_bleu {state['best_val_bleu']:.1f}"
            if "best_val_bleu" in state
            else ""
        )
        log(
            f"best model: '{out_dir / model_dir.MODEL_FILE}' (epoch "
            f"{state['best_epoch']}, val_loss {state['best_val_loss']:.3f}{bleu})"
        )


def _describe_model(model):
    direction = "bidirectional " if model.bidirectional else ""
    return (
        f"{direction}{model.rnn_type.upper()} {model.encoder_layers}x"
        f"{model.encoder_units} encoder, {model.rnn_type.upper()} "
        f"{model.decoder_units} decoder with {model.attention} attention, "
        f"embeddings {model.embedding_dim}, dropout {model.dropout:g}"
    )


def _minutes(seconds):
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _versions():
    names = ["keras-seq2seq", "keras", "numpy", "sentencepiece", "sacrebleu"]
    backend = keras.backend.backend()
    names.append(
        {"tensorflow": "tensorflow-cpu", "jax": "jax", "torch": "torch"}.get(
            backend, backend
        )
    )
    versions = {name: _version(name) for name in names}
    if backend == "tensorflow" and versions.get("tensorflow-cpu") is None:
        versions["tensorflow"] = _version("tensorflow")
    return versions


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _stderr_line(line):
    print(line, file=sys.stderr, flush=True)
