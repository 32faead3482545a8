#!/usr/bin/env bash
# Create .venv-tfa at the repository root for the tfa benchmark peer
# (benchmarks/peers/tfa_seq2seq.py): Python 3.11, tensorflow-cpu 2.15.1
# (Keras 2), tensorflow-addons 0.23.0, numpy < 2, installed with pip.
#
# It is the same environment the tfa reference fixtures use, so this script
# only delegates to scripts/tfa_reference/make_venv.sh (idempotent: an existing
# .venv-tfa is reused and its packages are (re)installed at those versions).
#
# Usage: bash benchmarks/peers/make_tfa_venv.sh
# Override the interpreter with PYTHON=/path/to/python3.11 if needed.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec bash "${repo_root}/scripts/tfa_reference/make_venv.sh" "$@"
