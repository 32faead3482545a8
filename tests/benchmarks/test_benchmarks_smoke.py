"""Smoke runs of the benchmark driver and the Keras worker, at tiny sizes.

They keep ``benchmarks/run.py`` and ``benchmarks/workers/keras_worker.py``
from rotting; the numbers mean nothing. The worker runs in this process on
the session's ``KERAS_BACKEND`` (the flags come from the driver's own command
builder, so the driver/worker contract is tested too); the driver runs once
end to end in a subprocess on the plain PyTorch peer, which starts in seconds,
and its aggregation, table and plots are checked on a synthetic run. The tfa
peer needs ``.venv-tfa`` (which CI does not build): that part is skipped with
the reason when it is missing.
"""

import json
import pathlib
import subprocess
import sys

import keras
import pytest
from conftest import load_benchmark

ROOT = pathlib.Path(__file__).resolve().parents[2]
TFA_PYTHON = ROOT / ".venv-tfa" / "bin" / "python"
BACKEND = keras.backend.backend()
# The compile mode that builds fastest at tiny sizes: XLA on JAX (JAX's eager
# mode runs its loops op by op), a tf.function graph on TensorFlow, eager torch.
FAST_COMPILE = {"jax": 1, "tensorflow": 0, "torch": 0}[BACKEND]


driver = load_benchmark("run.py")
worker = load_benchmark("workers/keras_worker.py")


def tiny_driver_args(*extra):
    return driver.parse_args(["--quick", "--rounds=1", *extra])


def worker_args(model, mode, tmp_path, *extra, precision=""):
    """The worker's arguments as the driver builds them, threads left alone."""
    (config,) = driver.parse_configs(f"{model}:{BACKEND}:{FAST_COMPILE}{precision}")
    command = driver.command_for(
        config, mode, tiny_driver_args(), tmp_path / "out.json"
    )
    flags = command[2:]  # after the interpreter and the script
    # Thread pools cannot be resized once this test session has used them.
    return worker.parse_args([*flags, "--threads=0", "--interop-threads=0", *extra])


@pytest.mark.parametrize(
    "model, mode",
    [
        ("translator", "train"),
        ("translator", "greedy"),
        ("translator", "beam"),
        ("wrapper", "train"),
        ("wrapper", "greedy"),
        ("wrapper", "beam"),
        ("keras_builtin", "train"),
        ("keras_builtin", "greedy"),
    ],
)
def test_worker_mode(model, mode, tmp_path):
    args = worker_args(model, mode, tmp_path)
    assert args.backend == BACKEND and args.vocab == 50 and args.units == 16
    keras.backend.clear_session()
    result = worker.run(args)
    json.dumps(result)  # the driver reads it back as JSON
    assert result["peer"] == model and result["backend"] == BACKEND
    assert result["compile_errors"] == {}
    assert result["peak_rss_mib"] > 0 and result["versions"]["keras"]
    assert len(result["step_times_s"]) == args.steps == 2
    if model == "wrapper":  # the driver's formula for the memory runs
        expected = driver.memory_model_parameters("wrapper", 50, 8, 16)
        assert result["parameters"] == expected
    if mode == "train":
        assert result["tokens_per_s"] > 0 and result["tokens_per_step"] == 4 * 6
        assert result["loss_first"] > 0
    else:
        assert result["sentences_per_s"] > 0 and result["sentences"] == 8
        # The end token's bias is -1e9: every decode runs all --tgt-len steps.
        assert result["decode_steps"] == [6]


def test_worker_trains_under_mixed_bfloat16(tmp_path):
    args = worker_args("translator", "train", tmp_path, precision=":bf16")
    assert args.dtype_policy == "mixed_bfloat16"
    keras.backend.clear_session()
    try:
        result = worker.run(args)
    finally:
        keras.config.set_dtype_policy("float32")
    assert result["dtype_policy"] == "mixed_bfloat16"
    assert result["compile_errors"] == {} and result["tokens_per_s"] > 0
    assert 0 < result["loss_first"] < 10  # finite: log(50) = 3.9 at the start


def test_bad_precision_field():
    with pytest.raises(ValueError, match="4th field can only be bf16"):
        driver.parse_configs("translator:jax:1:fp16")


def test_worker_gemm_scaling_and_memory(tmp_path):
    keras.backend.clear_session()
    for policy in ("float32", "mixed_bfloat16"):
        gemm = worker.run(
            worker.parse_args(
                [
                    "--backend",
                    BACKEND,
                    "--mode=gemm",
                    "--gemm-sizes=32,64",
                    "--gemm-reps=2",
                    "--interop-threads=0",
                    f"--dtype-policy={policy}",
                ]
            )
        )
        assert [p["size"] for p in gemm["gemm"]] == [32, 64]
        assert gemm["gemm_gflops_best"] > 0 and gemm["dtype_policy"] == policy

    args = worker_args("translator", "train", tmp_path)
    args.mode, args.axis, args.values, args.steps = "scaling", "src_len", [4], 1
    scaling = worker.run(args)
    [point] = scaling["points"]
    assert point["src_len"] == point["tgt_len"] == 4 and point["median_s"] > 0

    keras.backend.clear_session()
    model = "attention_decoder_full"
    memory = worker.run(
        worker.parse_args(
            [
                "--backend",
                BACKEND,
                f"--model={model}",
                "--mode=memory",
                f"--compile={FAST_COMPILE}",
                "--vocab=20",
                "--units=8",
                "--embed=4",
                "--batch=2",
                "--src-len=3",
                "--tgt-len=4",
                "--interop-threads=0",
            ]
        )
    )
    # The driver's parameter formula is what the worker builds.
    assert memory["parameters"] == driver.memory_model_parameters(model, 20, 4, 8)
    assert memory["rss_after_mib"] > 0


def fake_result(config, mode, round_number, value):
    key = "tokens_per_s" if mode == "train" else "sentences_per_s"
    return {
        "config": config,
        "mode": mode,
        "round": round_number,
        key: value,
        "median_s": 1.0 / value,
        "peak_rss_mib": 100.0 + value,
        "compile_mode": "x",
        "versions": {"keras": "3"},
    }


def test_driver_aggregates_ratios_table_and_plots(tmp_path):
    configs = driver.parse_configs(
        "tfa:tensorflow:0,torch:torch:0,translator:jax:1,"
        "tfa:tensorflow:0:bf16,translator:torch:0:bf16"
    )
    assert [c["dtype_policy"] for c in configs[-2:]] == ["mixed_bfloat16"] * 2
    speeds = {
        "tfa:tensorflow:0": 1,
        "torch:torch:0": 2,
        "translator:jax:1": 3,
        "tfa:tensorflow:0:bf16": 1.25,
        "translator:torch:0:bf16": 5,
    }
    results = []
    for round_number, scale in enumerate([1.0, 2.0, 1.5]):
        for mode in driver.MODES:
            for key, speed in speeds.items():
                results.append(fake_result(key, mode, round_number, speed * scale))
    rows = driver.summarize(results, configs, list(driver.MODES))
    references = driver.add_ratios(rows, results, list(driver.MODES))
    assert references["tfa:train"] == "tfa:tensorflow:0"
    assert references["tfa:train:bf16"] == "tfa:tensorflow:0:bf16"
    bf16 = rows["translator:torch:0:bf16"]
    assert bf16["ratios"]["train_vs_tfa"] == pytest.approx(5.0)
    assert bf16["ratios_same_policy"]["train_vs_tfa"] == pytest.approx(4.0)
    ours = rows["translator:jax:1"]
    assert ours["ratios_same_policy"] == {}
    assert ours["modes"]["train"]["median"] == 4.5
    assert ours["modes"]["train"]["min"] == 3.0
    # Ratios are paired within each round: 3x tfa and 1.5x torch every round.
    assert ours["ratios"]["train_vs_tfa"] == pytest.approx(3.0)
    assert ours["ratios"]["beam_vs_torch"] == pytest.approx(1.5)
    sizes = driver.sizes_from(tiny_driver_args())
    driver.add_flop_efficiency(rows, sizes, {"float32": 1.0, "mixed_bfloat16": 2.0})
    flops = driver.train_flops(**sizes)["train_step"]
    assert ours["modes"]["train"]["gflops_per_s"] == pytest.approx(flops * 4.5 / 1e9)
    assert ours["modes"]["train"]["flop_efficiency"] == pytest.approx(flops * 4.5 / 1e9)
    assert bf16["modes"]["train"]["flop_efficiency"] == pytest.approx(flops * 7.5 / 2e9)
    table = driver.text_table(rows)
    assert "translator" in table and "3.00 / 3.00 / 3.00" in table
    assert "mixed_bfloat16" in table and "4.00 / 4.00 / 4.00" in table
    assert driver.markdown_table(rows).count("\n") == 6

    points = [
        {
            "vocab": v,
            "batch": 4,
            "src_len": 5,
            "median_s": v / 1e3,
            "min_s": v / 2e3,
            "max_s": v / 5e2,
        }
        for v in (50, 100)
    ]
    scaling = {"vocab": {"points": points, "config": "translator:jax:1"}}
    assert (
        pathlib.Path(driver.plot_scaling(scaling, sizes, tmp_path / "scaling.png"))
        .stat()
        .st_size
    )
    memory = [
        {
            "model": model,
            "vocab": v,
            "analytic_parameters": driver.memory_model_parameters(model, v, 8, 16),
            "measured": v == 50,
            "training_rss_mib": 10.0,
        }
        for model in driver.MEMORY_MODELS
        for v in (50, 100)
    ]
    assert (
        pathlib.Path(driver.plot_memory(memory, tmp_path / "memory.png")).stat().st_size
    )


def test_flop_count_of_the_reference_model():
    parts = driver.train_flops()["forward_parts"]
    # Output projection: 64 * 12 tokens * 2 * 512 * 5000.
    assert parts["output_projection"] == 64 * 12 * 2 * 512 * 5000
    assert parts["encoder_gru"] == 64 * 12 * 3 * 2 * (256 + 512) * 512
    assert driver.train_flops()["train_step"] == 3 * sum(parts.values())
    # Greedy decoding of one sentence is the forward of one sequence; beam k
    # runs the decoder's parts k times over one encoding.
    greedy = driver.decode_flops()
    assert greedy == driver.train_flops()["forward"] / 64
    encoder = (parts["encoder_gru"] + parts["attention_keys"]) / 64
    assert driver.decode_flops(beam=5) == pytest.approx(5 * greedy - 4 * encoder)


def test_decode_gflops():
    rows = {
        "ours": {"peer": "translator", "modes": {"greedy": {"median": 10.0}}},
        "builtin": {"peer": "keras_builtin", "modes": {"greedy": {"median": 10.0}}},
    }
    driver.add_decode_gflops(rows, {"greedy": 2e9, "beam": 5e9})
    assert rows["ours"]["modes"]["greedy"]["gflops_per_s"] == 20.0
    assert "gflops_per_s" not in rows["builtin"]["modes"]["greedy"]


@pytest.mark.skipif(
    BACKEND != "torch",
    reason="backend-independent (the plain PyTorch peer): runs in the torch session",
)
def test_driver_end_to_end_on_the_torch_peer(tmp_path):
    """The whole driver in a subprocess: rounds, table, JSON, Markdown."""
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--rounds=2",
        "--configs=torch:torch:0,torch:torch:0:bf16",
        "--modes=train",
        "--gemm=0",
        "--scaling=0",
        "--memory=0",
        "--threads=1",
        f"--out-dir={tmp_path}",
        "--name=smoke",
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "torch" in completed.stdout and "wrote" in completed.stdout
    report = json.loads((tmp_path / "smoke.json").read_text())
    assert report["process_env"]["OMP_NUM_THREADS"] == "1"
    assert report["process_env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert report["process_env"]["MALLOC_MMAP_MAX_"] == "0"
    assert len(report["results"]) == 4 and not any(
        r.get("failed") for r in report["results"]
    )
    row = report["rows"]["torch:torch:0"]
    assert len(row["modes"]["train"]["per_round"]) == 2
    assert row["ratios"]["train_vs_torch"] == pytest.approx(1.0)
    bf16 = report["rows"]["torch:torch:0:bf16"]
    assert bf16["dtype_policy"] == "mixed_bfloat16"
    assert bf16["ratios_same_policy"]["train_vs_torch"] == pytest.approx(1.0)
    assert {r["dtype_policy"] for r in report["results"]} == {
        "float32",
        "mixed_bfloat16",
    }
    assert (tmp_path / "smoke.md").exists()
    assert not list(tmp_path.glob(".smoke-workers*"))


def test_tfa_peer_through_the_driver(tmp_path):
    if not TFA_PYTHON.exists():
        pytest.skip(
            f"{TFA_PYTHON.relative_to(ROOT)} is missing (build it with "
            "bash benchmarks/peers/make_tfa_venv.sh); CI does not build it"
        )
    if BACKEND != "tensorflow":
        pytest.skip("backend-independent (Keras 2): runs in the TensorFlow session")
    args = tiny_driver_args("--threads=1")
    for config in driver.parse_configs("tfa:tensorflow:0,tfa:tensorflow:0:bf16"):
        path = tmp_path / f"tfa-{config['dtype_policy']}.json"
        command = driver.command_for(config, "train", args, path)
        result = driver.run_process(command, driver.process_env(1), path, 300)
        assert not result.get("failed"), result.get("stderr")
        assert result["peer"] == "tfa" and result["tokens_per_s"] > 0
        assert result["dtype_policy"] == config["dtype_policy"]
