"""The files of a model directory: written by `train`, read by `load` and
`evaluate`.

```
config.json      options, tokenizers, data, backend, versions, training state
history.json     one record per epoch (loss, val_loss, val_bleu, tokens/s, ...)
model.keras      the best model so far by validation loss (no optimizer state)
source.model     SentencePiece model of the source language
target.model     SentencePiece model of the target language
split.json, valid.tsv, test.tsv   the data split (see `Split.save`)
backup/          the latest training state, weights and optimizer (resuming)
```
"""

import json
import os
import pathlib

from keras_seq2seq.translate.errors import PipelineError

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
MODEL_FILE = "model.keras"
BACKUP_DIR = "backup"
SOURCE_TOKENIZER = "source"
TARGET_TOKENIZER = "target"
CONFIG_FORMAT = 1

# The sections every config.json holds.
CONFIG_SECTIONS = ("model", "tokenizers", "data", "training")


def write_json(path, data):
    """Writes `data` as indented JSON, atomically: a reader (or an
    interruption) never sees half a file.

    Example:
    >>> import tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> write_json(path, {"a": 1})
    >>> read_json(path, "a test file")
    {'a': 1}
    """
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_json(path, what):
    """Reads a JSON file, raising `PipelineError` (naming `what`) if it is
    missing or not valid JSON."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise PipelineError(f"{what} is missing: no file '{path}'")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PipelineError(
            f"{what} is corrupt: '{path}' is not valid JSON ({error})"
        ) from error


def read_config(directory):
    """The `config.json` of a model directory, checked.

    Raises:
        PipelineError: the directory or its config is missing, or the config
            is not valid JSON or lacks a section.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise PipelineError(f"No model directory '{directory}'")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise PipelineError(
            f"'{directory}' is not a model directory: it has no {CONFIG_FILE} "
            "(train one with `keras-seq2seq train --out DIR`)"
        )
    config = read_json(path, f"The model config of '{directory}'")
    missing = [
        key
        for key in CONFIG_SECTIONS
        if not isinstance(config, dict) or key not in config
    ]
    if missing or config.get("format") != CONFIG_FORMAT:
        problem = (
            f"lacks {', '.join(missing)}"
            if missing
            else f"has format {config.get('format')!r}, this version reads {CONFIG_FORMAT}"
        )
        raise PipelineError(f"The model config '{path}' is corrupt: it {problem}")
    return config
