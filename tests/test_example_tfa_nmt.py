"""examples/tfa_nmt.py (tfa's NMT tutorial structure, greedy and beam) at tiny size."""

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "tfa_nmt.py"


def load_example():
    spec = importlib.util.spec_from_file_location("tfa_nmt_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reversal_pairs_reverse_the_source_and_end_with_end_token():
    example = load_example()
    sources, targets = example.reversal_pairs(50, 12, 8, np.random.default_rng(0))
    for source, target in zip(sources, targets):
        tokens = source[source != example.PAD]
        np.testing.assert_array_equal(target[: len(tokens)], tokens[::-1])
        assert target[len(tokens)] == example.END and np.all(
            target[len(tokens) + 1 :] == 0
        )


def test_trains_and_decodes_greedily(tmp_path):
    example = load_example()
    argv = [
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--units",
        "8",
        "--train-size",
        "64",
    ]
    metrics = example.main(argv + ["--test-size", "4", "--batch-size", "32"])
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert np.isfinite(metrics["final_loss"])
    assert 0.0 <= metrics["greedy_exact_match"] <= 1.0
    assert 0.0 <= metrics["beam_exact_match"] <= 1.0
    for decoded in (metrics["example"]["greedy"], metrics["example"]["beam"]):
        assert 1 <= len(decoded) <= 9 and all(0 <= token < 12 for token in decoded)
    assert np.isfinite(metrics["beam_mean_log_prob"])


def test_exact_match_counts_rows_equal_up_to_the_end_token():
    example = load_example()
    targets = np.array([[5, 4, 2, 0], [3, 2, 0, 0]])
    predicted = np.array([[5, 4, 2, 7], [3, 5, 2, 0]])
    assert example.exact_match(predicted, targets) == 0.5
