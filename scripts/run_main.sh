#!/usr/bin/env bash
# Sets up .venv, then runs the main job: the attention_keras NMT walk-through
# (train, greedy step-by-step inference, attention heatmap) into runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
KERAS_BACKEND="${KERAS_BACKEND:-jax}" .venv/bin/python examples/attention_keras_nmt.py "$@"
