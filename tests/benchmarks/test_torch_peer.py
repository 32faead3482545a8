"""Correctness of the plain PyTorch benchmark peer (benchmarks/peers/torch_seq2seq.py).

The peer does not use Keras, so these tests behave the same under every
KERAS_BACKEND; they only need torch (skipped cleanly without it).
"""

import itertools
import json
import math
import pathlib
import subprocess
import sys

import pytest
from conftest import load_benchmark

torch = pytest.importorskip("torch")

PEER_PATH = (
    pathlib.Path(__file__).resolve().parents[2]
    / "benchmarks"
    / "peers"
    / "torch_seq2seq.py"
)


peer = load_benchmark("peers/torch_seq2seq.py")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (the CI machine is small and shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model(vocab, units=16, embed=8, seed=0, scale=1.0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = peer.Seq2Seq(vocab, vocab, embed=embed, units=units).to(dtype).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(scale)
    return model


def test_copy_task_trains_and_greedy_decodes_the_copy():
    torch.manual_seed(0)
    vocab, batch, length = 20, 32, 6
    model = peer.Seq2Seq(vocab, vocab, embed=16, units=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)

    def copy_batch():
        lengths = torch.randint(3, length + 1, (batch,), generator=generator)
        src = torch.randint(3, vocab, (batch, length), generator=generator)
        positions = torch.arange(length)[None, :]
        src = src.masked_fill(positions >= lengths[:, None], peer.PAD)
        # target: the source then the end token; decoder input: start then source
        tgt_out = torch.cat([src, torch.zeros(batch, 1, dtype=torch.long)], dim=1)
        tgt_out[torch.arange(batch), lengths] = peer.END
        start = torch.full((batch, 1), peer.START, dtype=torch.long)
        tgt_in = torch.cat([start, tgt_out[:, :-1]], dim=1)
        tgt_mask = torch.arange(length + 1)[None, :] <= lengths[:, None]
        return src, lengths, tgt_in, tgt_out, tgt_mask

    losses = []
    for _ in range(200):
        optimizer.zero_grad(set_to_none=True)
        loss = peer.masked_loss(model, *copy_batch())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.25 * sum(losses[:10]) / 10, losses[::20]

    model.eval()
    src, lengths, _, tgt_out, tgt_mask = copy_batch()
    tokens, decoded_lengths, _ = peer.greedy_decode(model, src, lengths, length + 1)
    correct = ((tokens == tgt_out) | ~tgt_mask).all(dim=1)
    correct &= decoded_lengths == lengths + 1
    assert correct.float().mean() >= 0.75, (tokens[:4], tgt_out[:4])


def test_beam_width_one_equals_greedy():
    vocab, batch, max_length = 7, 12, 8
    model = tiny_model(vocab, scale=2.0, seed=1)
    with torch.no_grad():  # make the end token likely so some rows stop early
        model.output_layer.bias[peer.END] += 0.5
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(3, vocab, (batch, 5), generator=generator)
    lengths = torch.randint(1, 6, (batch,), generator=generator)
    greedy, greedy_lengths, _ = peer.greedy_decode(
        model, src, lengths, max_length, early_stop=False
    )
    beams, _, beam_lengths, _ = peer.beam_search(
        model, src, lengths, beam_width=1, max_length=max_length
    )
    assert (greedy_lengths < max_length).any() and (greedy_lengths == max_length).any()
    assert torch.equal(beams[:, 0], greedy)
    assert torch.equal(beam_lengths[:, 0], greedy_lengths)


def exhaustive_best(model, src, lengths, vocab, max_length, alpha):
    """Scores every sequence up to max_length (ending in the end token, or at
    max_length without it) with teacher forcing; returns per-row (score, seq)."""
    candidates = []
    for size in range(1, max_length + 1):
        for prefix in itertools.product(
            [t for t in range(vocab) if t != peer.END], repeat=size - 1
        ):
            candidates.append(list(prefix) + [peer.END])
            if size == max_length:
                for last in range(vocab):
                    if last != peer.END:
                        candidates.append(list(prefix) + [last])
    best = []
    for row in range(src.shape[0]):
        count = len(candidates)
        padded = torch.tensor(
            [c + [peer.PAD] * (max_length - len(c)) for c in candidates]
        )
        start = torch.full((count, 1), peer.START, dtype=torch.long)
        tgt_in = torch.cat([start, padded[:, :-1]], dim=1)
        with torch.no_grad():
            logits = model(
                src[row : row + 1].expand(count, -1),
                lengths[row : row + 1].expand(count),
                tgt_in,
            )
        logp = torch.log_softmax(logits, -1).gather(2, padded[:, :, None])[..., 0]
        scores = []
        for i, sequence in enumerate(candidates):
            total = logp[i, : len(sequence)].sum().item()
            scores.append(total / peer.length_penalty(float(len(sequence)), alpha))
        i = max(range(count), key=scores.__getitem__)
        best.append((scores[i], candidates[i]))
    return best


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_wide_beam_equals_exhaustive_search(alpha):
    vocab, max_length, batch = 4, 3, 6
    model = tiny_model(vocab, scale=3.0, seed=2)
    generator = torch.Generator().manual_seed(2)
    src = torch.randint(3, vocab, (batch, 4), generator=generator)
    lengths = torch.randint(1, 5, (batch,), generator=generator)
    # At most (vocab - 1) ** (max_length - 1) = 9 live prefixes, each with `vocab`
    # extensions: width 36 keeps every candidate at every step.
    beams, scores, beam_lengths, _ = peer.beam_search(
        model, src, lengths, beam_width=36, max_length=max_length, alpha=alpha
    )
    for row, (score, sequence) in enumerate(
        exhaustive_best(model, src, lengths, vocab, max_length, alpha)
    ):
        assert math.isclose(scores[row, 0].item(), score, rel_tol=1e-9, abs_tol=1e-12)
        assert beams[row, 0, : len(sequence)].tolist() == sequence
        assert beam_lengths[row, 0].item() == len(sequence)


def test_masked_source_positions_get_zero_attention():
    vocab, batch, source_length = 9, 4, 6
    model = tiny_model(vocab, seed=3)
    src = torch.randint(3, vocab, (batch, source_length))
    lengths = torch.tensor([1, 3, 6, 4])
    memory, keys, mask, state = model.encode(src, lengths)
    attention = model.initial_attention(state)
    tokens = torch.full((batch,), peer.START)
    _, attention, alignments = model.decode_step(
        model.tgt_embedding(tokens), state, attention, memory, keys, mask
    )
    padded = torch.arange(source_length)[None, :] >= lengths[:, None]
    assert torch.all(alignments[padded] == 0)
    assert torch.all(alignments[~padded] > 0)
    torch.testing.assert_close(
        alignments.sum(-1), torch.ones(batch, dtype=alignments.dtype)
    )
    # Whatever sits in the padding changes nothing.
    noisy = src.masked_fill(padded, 5)
    logits = model(src, lengths, tokens[:, None])
    torch.testing.assert_close(model(noisy, lengths, tokens[:, None]), logits)


def test_bidirectional_multilayer_config_runs():
    model = peer.Seq2Seq(
        11, 13, embed=8, units=16, encoder_layers=2, bidirectional=True
    )
    src = torch.randint(3, 11, (3, 5))
    lengths = torch.tensor([5, 2, 4])
    tgt = torch.randint(3, 13, (3, 4))
    loss = peer.masked_loss(model, src, lengths, tgt, tgt, torch.ones(3, 4, dtype=bool))
    loss.backward()
    assert torch.isfinite(loss)
    seqs, scores, _, _ = peer.beam_search(model.eval(), src, lengths, 3, 4, alpha=0.6)
    assert seqs.shape == (3, 3, 4) and torch.all(scores[:, :-1] >= scores[:, 1:])


@pytest.mark.parametrize("mode", ["train", "greedy", "beam"])
def test_cli_smoke_fixed_decode_steps(mode, tmp_path):
    out = tmp_path / "result.json"
    command = [
        sys.executable,
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
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["peer"] == "torch" and result["threads"] == 1
    assert len(result["step_times_s"]) == 2 and result["peak_rss_mib"] > 0
    if mode == "train":
        assert result["tokens_per_s"] > 0 and result["tokens_per_step"] == 24
    else:
        assert result["sentences_per_s"] > 0 and result["decode_steps"] == [6]
