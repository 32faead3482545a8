#!/usr/bin/env bash
# Sets up .venv, checks lint and format, then runs the whole test suite once per
# Keras backend (each in its own process), then the multi-device tests (marked
# `distributed`, each on virtual devices in fresh processes) as their own step.
# Fails if any run fails or collects no tests (pytest exits 5). Extra arguments
# go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/ruff check . && .venv/bin/ruff format --check . || exit 1
failed=()
for backend in tensorflow jax torch; do
  echo "== KERAS_BACKEND=$backend =="
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -m "not distributed" "$@" \
    || failed+=("$backend")
done
for backend in jax tensorflow torch; do
  echo "== distributed, KERAS_BACKEND=$backend =="
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -m distributed \
    tests/translate/test_distribute.py "$@" || failed+=("distributed-$backend")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED on: ${failed[*]}"
  exit 1
fi
echo "All three backends passed."
