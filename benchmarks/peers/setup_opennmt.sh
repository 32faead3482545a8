#!/usr/bin/env bash
# Create benchmarks/peers/.venv-onmt: OpenNMT-py 3.5.1 on torch 2.13 (CPU),
# for the OpenNMT-py peer (benchmarks/peers/opennmt_rnn.py). The library never
# depends on it.
#
# OpenNMT-py 3.5.1 asks for torch < 2.3, so it is installed with --no-deps
# beside torch 2.13, followed by the packages its commands import at start-up
# (onmt_build_vocab, onmt_train and onmt_translate each load every transform,
# hence pyonmttok, spacy, pyahocorasick, fasttext-wheel and rapidfuzz). pip
# then reports its other requirements (ctranslate2, flask, tensorboard, ...)
# and its torch pin as conflicts: the three commands run without them.
# Idempotent: an existing environment is reused.
#
# Usage: bash benchmarks/peers/setup_opennmt.sh
# Override the interpreter with PYTHON=/path/to/python3 if needed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${here}/.venv-onmt"
python="${PYTHON:-python3}"

if [ ! -x "${venv}/bin/python" ]; then
    "${python}" -m venv "${venv}"
fi
pip=("${venv}/bin/python" -m pip install -q)
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" --no-deps "OpenNMT-py==3.5.1"
"${pip[@]}" configargparse pyyaml sentencepiece sacrebleu numpy tqdm \
    pyonmttok spacy pyahocorasick fasttext-wheel rapidfuzz

for tool in onmt_build_vocab onmt_train onmt_translate; do
    "${venv}/bin/${tool}" -h >/dev/null
done
"${venv}/bin/python" -c '
import importlib.metadata as m
import torch
print("OpenNMT-py", m.version("OpenNMT-py"), "torch", torch.__version__)
'
