#!/usr/bin/env bash
# Creates .venv (if missing) and installs keras-seq2seq with all three backends.
# torch is pinned to the CPU wheel first, so the backend extra installs nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[tensorflow,jax,torch,dev]"
# tensorflow-text (the SentencePiece ops of an exported translator) requires the
# `tensorflow` package by name; tensorflow-cpu provides it, so no dependencies.
tf_minor=$(.venv/bin/python -c "import tensorflow as tf; print(tf.__version__.rsplit('.', 1)[0])" 2>/dev/null)
.venv/bin/python -m pip install -q --no-deps "tensorflow-text==${tf_minor}.*"
