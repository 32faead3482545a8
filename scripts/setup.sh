#!/usr/bin/env bash
# Creates .venv (if missing) and installs keras-seq2seq with all three backends.
# torch is pinned to the CPU wheel first, so the backend extra installs nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[tensorflow,jax,torch,dev]"
