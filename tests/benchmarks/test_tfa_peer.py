"""Smoke test of the tfa benchmark peer (benchmarks/peers/tfa_seq2seq.py).

The peer runs in its own environment, ``.venv-tfa`` (TensorFlow 2.15, Keras 2,
tensorflow-addons 0.23), built with ``bash benchmarks/peers/make_tfa_venv.sh``.
CI does not build that environment, so there this test is skipped (with the
reason); it runs wherever ``.venv-tfa/bin/python`` exists. It needs neither
Keras 3 nor the library, so it behaves the same under every KERAS_BACKEND.
"""

import json
import pathlib
import subprocess

import pytest
from conftest import load_benchmark

ROOT = pathlib.Path(__file__).resolve().parents[2]
PEER_PATH = ROOT / "benchmarks" / "peers" / "tfa_seq2seq.py"
TFA_PYTHON = ROOT / ".venv-tfa" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["train", "greedy", "beam"])
def test_tfa_peer_smoke(mode, tmp_path):
    if not TFA_PYTHON.exists():
        pytest.skip(
            f"{TFA_PYTHON.relative_to(ROOT)} is missing (build it with "
            "bash benchmarks/peers/make_tfa_venv.sh); CI does not build it"
        )
    out = tmp_path / "result.json"
    command = [
        str(TFA_PYTHON),
        str(PEER_PATH),
        f"--mode={mode}",
        "--compile=0",
        "--batch=4",
        "--sentences=8",
        "--src-len=5",
        "--tgt-len=6",
        "--vocab=50",
        "--embed=8",
        "--units=16",
        "--steps=2",
        "--warmup=1",
        "--threads=1",
        f"--json={out}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["peer"] == "tfa" and result["tfa_version"].startswith("0.23")
    assert result["tensorflow_version"].startswith("2.15")
    assert len(result["step_times_s"]) == 2 and result["peak_rss_mib"] > 0
    assert result["compile_errors"] == {}
    if mode == "train":
        assert result["tokens_per_s"] > 0 and result["tokens_per_step"] == 24
    else:
        # The end token is never produced: exactly --tgt-len decode steps.
        assert result["sentences_per_s"] > 0 and result["decode_steps"] == [6]


TFA_DUMP = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import tensorflow as tf
import tfa_seq2seq as peer

tf.keras.utils.set_random_seed(1)
model = peer.TfaSeq2Seq(11, 13, 8, 16, 5, 4, 0.0)
rng = np.random.default_rng(0)
src = rng.integers(3, 11, (3, 6)).astype("int32")
lengths = np.array([6, 3, 5], "int32")
src[1, 3:] = 0
src[2, 5:] = 0
tgt_in = rng.integers(3, 13, (3, 5)).astype("int32")
logits = model(src, lengths, tgt_in, tf.fill([3], 5)).numpy()
weights = {v.name: v.numpy() for v in model.trainable_variables}
greedy, greedy_lengths = model.greedy(src, lengths)
bias = model.output_layer.bias
bias.assign(tf.tensor_scatter_nd_update(bias, [[peer.END]], [peer.NEVER]))
beam, _ = model.beam(src, lengths)
np.savez(sys.argv[2], src=src, lengths=lengths, tgt_in=tgt_in, logits=logits,
         greedy=greedy.numpy(), greedy_lengths=greedy_lengths.numpy(),
         beam=beam.numpy(),
         **{name.replace("/", "|"): value for name, value in weights.items()})
"""


@pytest.mark.slow
def test_torch_peer_matches_tfa_peer_on_the_same_weights(tmp_path):
    """The plain PyTorch peer is the same model as tfa's AttentionWrapper stack:
    with tfa's weights copied in, teacher-forced logits, greedy ids and (with
    the end token disabled, where both beam searches coincide) beam ids agree."""
    torch = pytest.importorskip("torch")
    if not TFA_PYTHON.exists():
        pytest.skip(f"{TFA_PYTHON.relative_to(ROOT)} is missing; CI does not build it")

    import numpy as np

    dump = tmp_path / "tfa.npz"
    completed = subprocess.run(
        [str(TFA_PYTHON), "-c", TFA_DUMP, str(PEER_PATH.parent), str(dump)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    data = dict(np.load(dump))

    peer = load_benchmark("peers/torch_seq2seq.py")

    def weight(suffix):
        (value,) = [v for k, v in data.items() if k.endswith(suffix)]
        return torch.tensor(value, dtype=torch.float64)

    def keras_gru_to_torch(prefix, units=16):
        # Keras gate order (z, r, h) and (in, 3u) kernels; torch (r, z, n), (3u, in).
        def order(a):
            return torch.cat(
                [a[..., units : 2 * units], a[..., :units], a[..., 2 * units :]], -1
            )

        bias = weight(prefix + "|bias:0")
        return (
            order(weight(prefix + "|kernel:0")).T,
            order(weight(prefix + "|recurrent_kernel:0")).T,
            order(bias[0]),
            order(bias[1]),
        )

    model = peer.Seq2Seq(11, 13, embed=8, units=16).double().eval()
    with torch.no_grad():
        model.src_embedding.weight.copy_(weight("|embedding|embeddings:0"))
        model.tgt_embedding.weight.copy_(weight("|embedding_1|embeddings:0"))
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        encoder = keras_gru_to_torch("|gru|gru_cell")
        for name, value in zip(names, encoder):
            getattr(model.encoder, name + "_l0").copy_(value)
        decoder = keras_gru_to_torch("attention_wrapper|gru_cell")
        for name, value in zip(names, decoder):
            getattr(model.cell, name).copy_(value)
        model.v.copy_(weight("attention_v:0"))
        model.query_layer.weight.copy_(weight("BahdanauAttention|kernel:0").T)
        model.memory_layer.weight.copy_(weight("memory_layer|kernel:0").T)
        model.attention_layer.weight.copy_(weight("attention_layer|kernel:0").T)
        model.output_layer.weight.copy_(weight("dense|kernel:0").T)
        model.output_layer.bias.copy_(weight("dense|bias:0"))

    src = torch.tensor(data["src"]).long()
    lengths = torch.tensor(data["lengths"]).long()
    with torch.no_grad():
        logits = model(src, lengths, torch.tensor(data["tgt_in"]).long())
    np.testing.assert_allclose(logits.numpy(), data["logits"], atol=1e-6)
    greedy, greedy_lengths, _ = peer.greedy_decode(model, src, lengths, 5, False)
    np.testing.assert_array_equal(greedy_lengths.numpy(), data["greedy_lengths"])
    assert (greedy_lengths < 5).any(), "the end token should be reached somewhere"
    # tfa keeps emitting tokens after a row's end token; the peer pads with 0.
    kept = np.arange(5)[None, :] < data["greedy_lengths"][:, None]
    np.testing.assert_array_equal(greedy.numpy()[kept], data["greedy"][kept])
    with torch.no_grad():
        model.output_layer.bias[peer.END] = peer.NEVER
    beams, _, _, _ = peer.beam_search(model, src, lengths, 4, 5)
    np.testing.assert_array_equal(beams.permute(0, 2, 1).numpy(), data["beam"])
