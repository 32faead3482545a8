"""The echo experiments (examples/echo/echo.py) at tiny size."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "echo" / "echo.py"


@pytest.fixture(scope="module")
def echo():
    spec = importlib.util.spec_from_file_location("echo_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_last_first_pairs_hold_the_last_nonzero_then_the_first_symbol(echo):
    x, y = echo.make_pairs("last_first", 200, 8, 10, np.random.default_rng(0))
    lengths = (x != 0).sum(1)
    assert lengths.min() >= 4 and lengths.max() <= 9 and x.max() <= 7
    assert np.all(x[np.arange(10)[None] >= lengths[:, None]] == 0)
    np.testing.assert_array_equal(y[:, 0], x[np.arange(200), lengths - 1])
    np.testing.assert_array_equal(y[:, 1], x[:, 0])
    assert np.all(y[:, 2:] == 0)


def test_first2_pairs_echo_the_first_two_symbols(echo):
    x, y = echo.make_pairs("first2", 50, 50, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(y[:, :2], x[:, :2])
    assert np.all(y[:, 2:] == 0)


@pytest.mark.parametrize(
    "task, protocol", [("first2", "single"), ("last_first", "batched")]
)
def test_all_models_train_and_report(echo, tmp_path, task, protocol):
    out = tmp_path / "echo.json"
    args = ["--task", task, "--protocol", protocol, "--steps", "8", "--batch-size", "4"]
    args += ["--test-pairs", "5", "--json", str(out), "--models"]
    summary = echo.main(args + ["baseline", "attention", "teacher_forcing"])
    assert json.loads(out.read_text()) == summary
    for result in summary["results"].values():
        assert len(result["accuracies"]) == 1
        assert 0.0 <= result["mean_accuracy"] <= 100.0
        assert result["train_seconds"][0] > 0
