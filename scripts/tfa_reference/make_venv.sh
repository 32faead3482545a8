#!/usr/bin/env bash
# Create .venv-tfa at the repository root: a throwaway environment with
# TensorFlow 2.15 and tensorflow-addons 0.23, used only to (re)generate the
# reference fixtures in tests/fixtures/tfa/. The library never depends on it.
#
# Usage: bash scripts/tfa_reference/make_venv.sh
# Override the interpreter with PYTHON=/path/to/python3.11 if needed.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${repo_root}/.venv-tfa"
python="${PYTHON:-python3.11}"
if ! command -v "${python}" >/dev/null 2>&1; then
    python=python3
fi

"${python}" - <<'PY'
import sys
if sys.version_info[:2] != (3, 11):
    raise SystemExit(f"need Python 3.11 for tensorflow 2.15, got {sys.version}")
PY

if [ ! -x "${venv}/bin/python" ]; then
    "${python}" -m venv "${venv}"
fi
"${venv}/bin/python" -m pip install --upgrade pip

# TF 2.15 was built against numpy 1.x; tfa 0.23 is the last release and
# supports TF 2.12-2.15.
if ! "${venv}/bin/python" -m pip install "tensorflow-cpu==2.15.1"; then
    echo "tensorflow-cpu==2.15.1 unavailable, falling back to tensorflow==2.15.1" >&2
    "${venv}/bin/python" -m pip install "tensorflow==2.15.1"
fi
"${venv}/bin/python" -m pip install "tensorflow-addons==0.23.0" "numpy>=1.23.5,<2"

"${venv}/bin/python" -c '
import warnings
warnings.filterwarnings("ignore")
import numpy as np
import tensorflow as tf
import tensorflow_addons as tfa
print("numpy", np.__version__, "tensorflow", tf.__version__, "tfa", tfa.__version__)
'
