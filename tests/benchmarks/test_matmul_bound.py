"""A smoke run of `benchmarks/matmul_bound.py` at tiny sizes on the session's
backend: the figures mean nothing; the test keeps the script from rotting and
checks its FLOP count against the driver's analytic one (`run.train_flops`)."""

import json

import keras
import numpy as np
import pytest
from conftest import load_benchmark

bound = load_benchmark("matmul_bound.py")
driver = load_benchmark("run.py")
SIZES = dict(batch=4, src_len=3, tgt_len=2, vocab=11, embed=5, units=6)


def test_matmul_bound_times_every_weight_matmul_of_a_step(tmp_path):
    out = tmp_path / "bound.json"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SIZES.items()]
    bound.main([*flags, "--reps=1", f"--json={out}"])
    result = json.loads(out.read_text())
    assert result["backend"] == keras.backend.backend()
    assert result["versions"]["keras"] == keras.__version__
    parts = driver.train_flops(**SIZES)["forward_parts"]
    weight_matmuls = (
        sum(parts.values()) - parts["attention_scores"] - parts["attention_context"]
    )
    assert result["gflop"] == pytest.approx(3 * weight_matmuls / 1e9)
    assert [m["matmul"] for m in result["matmuls"]] == [
        name for name, *_ in bound.step_matmuls(**SIZES)
    ]
    for row in result["matmuls"]:
        times = [row[f"{kind}_ms"] for kind in bound.KINDS]
        assert all(t > 0 for t in times) and row["ms"] == pytest.approx(sum(times))
        assert ("forward_batched_ms" in row) == bool(row["loop_steps"])
    assert result["bound_ms"] == pytest.approx(sum(m["ms"] for m in result["matmuls"]))
    assert result["batched_bound_ms"] > 0


@pytest.mark.parametrize("kind", bound.KINDS)
@pytest.mark.parametrize("steps", [0, 3])
def test_products_compute_the_step_matmuls(kind, steps):
    rng = np.random.default_rng(0)
    lead = (steps,) if steps else ()
    x = rng.standard_normal(lead + (4, 5)).astype("float32")
    w = rng.standard_normal((5, 6)).astype("float32")
    g = rng.standard_normal(lead + (4, 6)).astype("float32")
    got = keras.ops.convert_to_numpy(bound.products(kind, steps)(x, w, g))
    if kind == "forward":
        want = x @ w
    elif kind == "input_grad":
        want = g @ w.T
    else:
        want = x.reshape(-1, 5).T @ g.reshape(-1, 6)  # summed over the steps
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
