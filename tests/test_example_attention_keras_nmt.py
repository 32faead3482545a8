"""Smoke test of examples/attention_keras_nmt.py at a tiny size, on any backend."""

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).parents[1] / "examples" / "attention_keras_nmt.py"


@pytest.fixture(scope="module")
def nmt():
    spec = importlib.util.spec_from_file_location("attention_keras_nmt", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_writes_plot_metrics_and_model(nmt, tmp_path):
    argv = ["--out", str(tmp_path), "--hidden", "8", "--epochs", "1"]
    argv += ["--train-size", "64", "--test-size", "4", "--batch-size", "32"]
    returned = nmt.main(argv)

    assert (tmp_path / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == returned
    for key in ("exact_match", "token_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert np.isfinite(metrics["final_loss"])
    assert metrics["reload_max_abs_diff"] < 1e-5
    assert zipfile.is_zipfile(tmp_path / "model.keras")


def test_inference_attention_rows_are_distributions(nmt):
    full_model, encoder_model, decoder_model = nmt.define_nmt(
        hidden_size=8,
        batch_size=None,
        en_timesteps=nmt.EN_TIMESTEPS,
        en_vsize=len(nmt.EN_ID2WORD),
        fr_timesteps=nmt.FR_TIMESTEPS,
        fr_vsize=len(nmt.FR_ID2WORD),
    )
    assert full_model.output_shape == (None, nmt.FR_TIMESTEPS - 1, len(nmt.FR_ID2WORD))
    en_seq, _ = nmt.generate_data(np.random.default_rng(0), 1)

    pairs = nmt.infer_nmt(
        encoder_model, decoder_model, en_seq, len(nmt.EN_ID2WORD), len(nmt.FR_ID2WORD)
    )

    assert 1 <= len(pairs) <= nmt.FR_TIMESTEPS - 1
    for word_index, attention in pairs:
        assert word_index in nmt.FR_ID2WORD
        assert attention.shape == (1, 1, nmt.EN_TIMESTEPS)
        np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
