"""Plain PyTorch peer for the seq2seq benchmarks (issues 6 and 8).

An idiomatic PyTorch model of the reference workload, written without Keras:
an ``nn.GRU`` encoder and an ``nn.GRUCell`` decoder with Bahdanau (additive)
attention and input feeding, built to match

    tfa.seq2seq.AttentionWrapper(
        tf.keras.layers.GRUCell(512),
        tfa.seq2seq.BahdanauAttention(512, memory=encoder_outputs,
                                      memory_sequence_length=source_lengths),
        attention_layer_size=512)

step for step. One decoder step::

    cell_input = concat(embedded token, previous attention vector)
    h          = GRUCell(cell_input, h)
    scores     = v . tanh(W_q h + W_m memory)      # W_m memory: once per sequence
    alignments = softmax(scores, padded source positions masked)
    context    = sum_j alignments_j memory_j
    attention  = W_a [h; context]                  # no bias, no activation
    logits     = Dense(vocab)(attention)

As in tfa, the memory is zeroed at padded positions and the first attention
vector is zeros. The decoder starts from the encoder's final state (the tfa
NMT tutorial's ``get_initial_state(...).clone(cell_state=encoder_state)``): the
GRU output at each row's last real source position for a unidirectional
encoder (exact, the GRU being causal), and a linear bridge of the top layer's
forward and backward final states for a bidirectional one (then run on packed
sequences so the backward direction starts at the last real token).

Decoding is greedy or beam search, both vectorised over batch * beam with
static shapes. Beam search ranks with the GNMT length penalty as in tfa,
``score = log-prob sum / ((5 + length) / 6) ** alpha`` (the end token counts in
the length; the penalty is used for ranking only), keeps finished hypotheses
apart from the live beams so a long live beam cannot push out a better
finished one, and stops early once no live beam can beat the best finished
one. A hypothesis that ends joins the finished ones only if it ranks among
the step's top K candidates (as in tfa, where it would take a beam slot, and
Hugging Face's beam scorer), so width 1 is exactly greedy decoding. Token ids:
0 padding, 1 start, 2 end.

Benchmark mode (the CLI): random token ids from a fixed seed, all sequences at
full length, and for decoding the output layer's bias on the end token is set
to -1e9 so the end token is never produced and every peer decodes exactly
``--tgt-len`` steps (the tfa peer does the same). The early-stop checks still
run every step; they just never fire.

Threads: ``--threads`` sets torch's intra-op threads (``--interop-threads``,
default 1, the inter-op pool). On a shared machine with more runnable
processes than cores, OpenMP's spin-waiting makes multi-threaded torch
collapse (measured 4-5x slower training at load 7 on 2 cores); run it with
``OMP_WAIT_POLICY=PASSIVE`` there. The JSON records those environment
variables and the load average before and after.

    python benchmarks/peers/torch_seq2seq.py --mode train --compile 1 \
        --batch 64 --src-len 12 --tgt-len 12 --vocab 5000 --steps 20 \
        --warmup 3 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F
from torch import nn

PAD, START, END = 0, 1, 2
NEVER = -1e9  # bias that keeps the end token from ever being produced
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MKL_NUM_THREADS",
    "KMP_BLOCKTIME",
    "TF_ENABLE_ONEDNN_OPTS",
)


class Seq2Seq(nn.Module):
    """GRU encoder, GRUCell decoder with Bahdanau attention and input feeding."""

    def __init__(
        self,
        src_vocab=5000,
        tgt_vocab=5000,
        embed=256,
        units=512,
        attention_units=None,
        attention_size=None,
        encoder_layers=1,
        bidirectional=False,
    ):
        super().__init__()
        attention_units = attention_units or units
        attention_size = attention_size or units
        self.bidirectional = bidirectional
        self.memory_size = units * (2 if bidirectional else 1)
        self.attention_size = attention_size
        self.src_embedding = nn.Embedding(src_vocab, embed)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed)
        self.encoder = nn.GRU(
            embed,
            units,
            num_layers=encoder_layers,
            batch_first=True,
            bidirectional=bidirectional,
        )
        self.bridge = nn.Linear(2 * units, units) if bidirectional else None
        # BahdanauAttention(units): memory_layer and query_layer are Dense without
        # bias, the score is v . tanh(keys + query) (normalize=False).
        self.memory_layer = nn.Linear(self.memory_size, attention_units, bias=False)
        self.query_layer = nn.Linear(units, attention_units, bias=False)
        self.v = nn.Parameter(torch.empty(attention_units))
        nn.init.uniform_(self.v, -(attention_units**-0.5), attention_units**-0.5)
        self.cell = nn.GRUCell(embed + attention_size, units)
        # AttentionWrapper(attention_layer_size=...): Dense(size, use_bias=False).
        self.attention_layer = nn.Linear(
            units + self.memory_size, attention_size, bias=False
        )
        self.output_layer = nn.Linear(attention_size, tgt_vocab)

    def encode(self, src, src_lengths):
        """Returns (memory, keys, mask, initial decoder state) for (B, S) ids."""
        batch, length = src.shape
        mask = torch.arange(length, device=src.device)[None, :] < src_lengths[:, None]
        embedded = self.src_embedding(src)
        if self.bidirectional:
            packed = nn.utils.rnn.pack_padded_sequence(
                embedded, src_lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            outputs, final = self.encoder(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(
                outputs, batch_first=True, total_length=length
            )
            state = self.bridge(torch.cat([final[-2], final[-1]], dim=-1))
        else:
            memory, _ = self.encoder(embedded)
            last = (
                (src_lengths - 1).view(batch, 1, 1).expand(batch, 1, memory.shape[-1])
            )
            state = memory.gather(1, last).squeeze(1)
        memory = memory * mask[..., None].to(memory.dtype)
        return memory, self.memory_layer(memory), mask, state

    def initial_attention(self, state):
        return state.new_zeros(state.shape[0], self.attention_size)

    def decode_step(self, embedded, state, attention, memory, keys, mask):
        """One AttentionWrapper step: returns (state, attention vector, alignments)."""
        state = self.cell(torch.cat([embedded, attention], dim=-1), state)
        query = self.query_layer(state)
        scores = torch.tanh(keys + query[:, None, :]) @ self.v
        scores = scores.masked_fill(~mask, float("-inf"))
        alignments = torch.softmax(scores, dim=-1)
        context = torch.bmm(alignments[:, None, :], memory).squeeze(1)
        attention = self.attention_layer(torch.cat([state, context], dim=-1))
        return state, attention, alignments

    def forward(self, src, src_lengths, tgt_in):
        """Teacher-forced logits (B, T, vocab) for decoder inputs (B, T)."""
        memory, keys, mask, state = self.encode(src, src_lengths)
        attention = self.initial_attention(state)
        embedded = self.tgt_embedding(tgt_in)
        outputs = []
        for t in range(tgt_in.shape[1]):
            state, attention, _ = self.decode_step(
                embedded[:, t], state, attention, memory, keys, mask
            )
            outputs.append(attention)
        # One output projection over all steps instead of one per step.
        return self.output_layer(torch.stack(outputs, dim=1))


def masked_loss(model, src, src_lengths, tgt_in, tgt_out, tgt_mask):
    """Cross-entropy averaged over the real (unmasked) target tokens."""
    logits = model(src, src_lengths, tgt_in).float()
    losses = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), reduction="none"
    )
    weights = tgt_mask.reshape(-1).to(losses.dtype)
    return (losses * weights).sum() / weights.sum()


# ----------------------------------------------------------------- decoding


def make_greedy_step(model):
    def greedy_step(tokens, state, attention, memory, keys, mask):
        state, attention, _ = model.decode_step(
            model.tgt_embedding(tokens), state, attention, memory, keys, mask
        )
        return model.output_layer(attention).argmax(dim=-1), state, attention

    return greedy_step


@torch.inference_mode()
def greedy_decode(
    model, src, src_lengths, max_length, early_stop=True, encode=None, step=None
):
    """Greedy decoding of a batch. Returns (tokens (B, T), lengths (B,), steps run).

    Rows are padded with 0 after their end token (which is kept and counted in
    the length); decoding stops once every row has produced it.
    """
    encode = encode or model.encode
    step = step or make_greedy_step(model)
    memory, keys, mask, state = encode(src, src_lengths)
    batch = src.shape[0]
    attention = model.initial_attention(state)
    tokens = torch.full((batch,), START, dtype=torch.long, device=src.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(batch, dtype=torch.long, device=src.device)
    outputs = []
    for _ in range(max_length):
        tokens, state, attention = step(tokens, state, attention, memory, keys, mask)
        tokens = tokens.masked_fill(finished, PAD)
        lengths += (~finished).long()
        outputs.append(tokens)
        finished = finished | (tokens == END)
        if early_stop and bool(finished.all()):
            break
    return torch.stack(outputs, dim=1), lengths, len(outputs)


def length_penalty(length, alpha):
    """GNMT (Wu et al. 2016): ((5 + length) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def make_beam_step(model, batch, beam_width, max_length, alpha):
    """The whole per-step beam update, on static shapes (compilable as one graph).

    Carries: tokens (B*K,), state, attention (B*K, .), alive_logp (B, K),
    alive_seq (B, K, L), finished_seq (B, K, L), finished_score (B, K),
    finished_length (B, K); `t` is a 0-d long tensor (the step, 0-based).
    """
    vocab = model.output_layer.out_features
    k = beam_width
    candidates = min(2 * k, k * vocab)  # >= k non-end: one end token per beam
    final_penalty = length_penalty(float(max_length), alpha)

    def beam_step(
        t,
        tokens,
        state,
        attention,
        memory,
        keys,
        mask,
        alive_logp,
        alive_seq,
        finished_seq,
        finished_score,
        finished_length,
    ):
        device = tokens.device
        state, attention, _ = model.decode_step(
            model.tgt_embedding(tokens), state, attention, memory, keys, mask
        )
        logp = torch.log_softmax(model.output_layer(attention), dim=-1)
        total = (alive_logp[:, :, None] + logp.view(batch, k, vocab)).view(batch, -1)
        top_logp, top_index = total.topk(candidates, dim=-1)
        parent = torch.div(top_index, vocab, rounding_mode="floor")
        token = top_index % vocab
        is_end = token == END
        column = torch.arange(max_length, device=device) == t
        seq = alive_seq.gather(1, parent[:, :, None].expand(-1, -1, max_length))
        seq = torch.where(column, token[:, :, None], seq)

        # Live beams: the best k candidates that did not just end.
        alive_logp, pick = top_logp.masked_fill(is_end, float("-inf")).topk(k, dim=-1)
        alive_seq = seq.gather(1, pick[:, :, None].expand(-1, -1, max_length))
        tokens = token.gather(1, pick).view(-1)
        rows = torch.arange(batch, device=device)[:, None] * k
        order = (rows + parent.gather(1, pick)).view(-1)
        state, attention = state[order], attention[order]

        # Finished pool: the best k of the old pool and the candidates that ended
        # among this step's top k (so width 1 is exactly greedy decoding).
        penalty = length_penalty((t + 1).to(top_logp.dtype), alpha)
        admitted = is_end & (torch.arange(candidates, device=device) < k)
        new_score = (top_logp / penalty).masked_fill(~admitted, float("-inf"))
        scores = torch.cat([finished_score, new_score], dim=1)
        finished_score, pick = scores.topk(k, dim=-1)
        seqs = torch.cat([finished_seq, seq], dim=1)
        finished_seq = seqs.gather(1, pick[:, :, None].expand(-1, -1, max_length))
        lengths = torch.cat([finished_length, (t + 1).expand_as(token)], dim=1)
        finished_length = lengths.gather(1, pick)

        # A live beam's score can only fall (log-probs <= 0, penalty grows with
        # length), so the best it can reach is alive_logp / penalty(max_length).
        done = finished_score[:, 0] >= alive_logp[:, 0] / final_penalty
        return (
            tokens,
            state,
            attention,
            alive_logp,
            alive_seq,
            finished_seq,
            finished_score,
            finished_length,
            done,
        )

    return beam_step


def tile(x, multiplier):
    """tfa.seq2seq.tile_batch: repeat each batch entry `multiplier` times."""
    return x.repeat_interleave(multiplier, dim=0)


@torch.inference_mode()
def beam_search(
    model,
    src,
    src_lengths,
    beam_width,
    max_length,
    alpha=0.0,
    early_stop=True,
    encode=None,
    step=None,
):
    """Beam search over a batch of sources.

    Returns (sequences (B, K, L), scores (B, K), lengths (B, K), steps run),
    best first; sequences are padded with 0 after the end token. Hypotheses
    that reached `max_length` (or were live at an early stop) compete with the
    finished ones, scored at their length.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    if alpha < 0:
        raise ValueError("the early-stop bound needs a length penalty alpha >= 0")
    encode = encode or model.encode
    batch, k, device = src.shape[0], beam_width, src.device
    step = step or make_beam_step(model, batch, k, max_length, alpha)
    memory, keys, mask, state = encode(src, src_lengths)
    memory, keys, mask, state = (tile(x, k) for x in (memory, keys, mask, state))
    attention = model.initial_attention(state)
    tokens = torch.full((batch * k,), START, dtype=torch.long, device=device)
    dtype = memory.dtype
    alive_logp = torch.full((batch, k), float("-inf"), dtype=dtype, device=device)
    alive_logp[:, 0] = 0.0  # the k start beams are identical: keep one
    alive_seq = torch.zeros(batch, k, max_length, dtype=torch.long, device=device)
    finished_seq = torch.zeros_like(alive_seq)
    finished_score = torch.full_like(alive_logp, float("-inf"))
    finished_length = torch.zeros(batch, k, dtype=torch.long, device=device)
    steps = 0
    for t in range(max_length):
        (
            tokens,
            state,
            attention,
            alive_logp,
            alive_seq,
            finished_seq,
            finished_score,
            finished_length,
            done,
        ) = step(
            torch.tensor(t, device=device),
            tokens,
            state,
            attention,
            memory,
            keys,
            mask,
            alive_logp,
            alive_seq,
            finished_seq,
            finished_score,
            finished_length,
        )
        steps += 1
        if early_stop and bool(done.all()):
            break
    # Live beams compete too (rows with nothing finished, or max length reached).
    alive_score = alive_logp / length_penalty(float(steps), alpha)
    scores = torch.cat([finished_score, alive_score], dim=1)
    scores, pick = scores.topk(k, dim=-1)
    seqs = torch.cat([finished_seq, alive_seq], dim=1)
    seqs = seqs.gather(1, pick[:, :, None].expand(-1, -1, max_length))
    lengths = torch.cat([finished_length, torch.full_like(finished_length, steps)], 1)
    return seqs, scores, lengths.gather(1, pick), steps


# ------------------------------------------------------------- benchmarking


class MaybeCompiled:
    """torch.compile(fn), falling back to eager (error recorded) if compiling fails."""

    def __init__(self, fn, name, enabled, report):
        self.fn, self.name, self.report = fn, name, report
        self.compiled = torch.compile(fn) if enabled else None
        report[name] = "compiled" if enabled else "eager"

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as error:  # record it, run this part eagerly
                message = f"{type(error).__name__}: {error}".strip()
                self.report[self.name] = "eager (compile failed)"
                self.report.setdefault("errors", {})[self.name] = message[:4000]
                traceback.print_exc(file=sys.stderr)
                self.compiled = None
        return self.fn(*args)


def random_batches(generator, count, batch, length, vocab):
    """`count` batches of random ids in [3, vocab) at full length."""
    return [
        torch.randint(3, vocab, (batch, length), generator=generator)
        for _ in range(count)
    ]


def peak_rss_mib():
    """This process's peak resident set (VmHWM; `ru_maxrss` would include the
    driver's, which Linux carries across fork and exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def timed(fn, warmup, steps):
    """Runs fn warmup + steps times; returns (first call s, timed step seconds)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, times


def summary(times, work):
    """Throughput (work per second) at the median, slowest and fastest step."""
    median = statistics.median(times)
    return {
        "step_times_s": [round(x, 6) for x in times],
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "median": work / median,
        "min": work / max(times),
        "max": work / min(times),
    }


def run(args):
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = Seq2Seq(
        args.vocab,
        args.vocab,
        embed=args.embed,
        units=args.units,
        encoder_layers=args.encoder_layers,
        bidirectional=bool(args.bidirectional),
    )
    report = {}
    compile_on = bool(args.compile)
    autocast = torch.autocast(
        "cpu", torch.bfloat16, enabled=args.dtype_policy == "mixed_bfloat16"
    )
    result = {
        "peer": "torch",
        "mode": args.mode,
        "compile": int(compile_on),
        "compile_mode": "torch.compile (inductor)" if compile_on else "eager",
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "env": {name: os.environ.get(name) for name in THREAD_ENV},
        "loadavg_start": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "batch": args.batch,
        "src_len": args.src_len,
        "tgt_len": args.tgt_len,
        "vocab": args.vocab,
        "embed": args.embed,
        "units": args.units,
        "encoder_layers": args.encoder_layers,
        "bidirectional": int(args.bidirectional),
        "parameters": sum(p.numel() for p in model.parameters()),
        "warmup": args.warmup,
        "steps": args.steps,
        "seed": args.seed,
        "dtype_policy": args.dtype_policy,
    }
    sources = random_batches(generator, 4, args.batch, args.src_len, args.vocab)
    source_lengths = torch.full((args.batch,), args.src_len, dtype=torch.long)

    if args.mode == "train":
        targets = random_batches(generator, 4, args.batch, args.tgt_len, args.vocab)
        start = torch.full((args.batch, 1), START, dtype=torch.long)
        tgt_in = [torch.cat([start, y[:, :-1]], dim=1) for y in targets]
        tgt_mask = torch.ones(args.batch, args.tgt_len, dtype=torch.bool)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = MaybeCompiled(masked_loss, "loss", compile_on, report)
        optimizer_step = MaybeCompiled(optimizer.step, "optimizer", compile_on, report)
        losses, counter = [], [0]

        def train_step():
            i = counter[0] % len(sources)
            counter[0] += 1
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                loss = loss_fn(
                    model, sources[i], source_lengths, tgt_in[i], targets[i], tgt_mask
                )
            loss.backward()
            optimizer_step()
            losses.append(loss.detach().item())

        first, times = timed(train_step, args.warmup, args.steps)
        tokens = int(tgt_mask.sum())
        stats = summary(times, tokens)
        result.update(
            tokens_per_step=tokens,
            tokens_per_s=stats.pop("median"),
            tokens_per_s_min=stats.pop("min"),
            tokens_per_s_max=stats.pop("max"),
            loss_first=losses[0],
            loss_last=losses[-1],
        )
    else:
        model.eval()
        with torch.no_grad():
            model.output_layer.bias[END] = NEVER  # fixed number of decode steps
        sentences = args.sentences or (256 if args.mode == "greedy" else 64)
        if sentences % args.batch:
            raise SystemExit("--sentences must be a multiple of --batch")
        encode = MaybeCompiled(model.encode, "encode", compile_on, report)
        if args.mode == "greedy":
            step = MaybeCompiled(make_greedy_step(model), "step", compile_on, report)
        else:
            beam_step = make_beam_step(
                model, args.batch, args.beam, args.tgt_len, args.alpha
            )
            step = MaybeCompiled(beam_step, "step", compile_on, report)
        steps_run = []

        def decode_all():
            with autocast:
                decode_batches()

        def decode_batches():
            for i in range(sentences // args.batch):
                src = sources[i % len(sources)]
                if args.mode == "greedy":
                    *_, steps = greedy_decode(
                        model, src, source_lengths, args.tgt_len, True, encode, step
                    )
                else:
                    *_, steps = beam_search(
                        model,
                        src,
                        source_lengths,
                        args.beam,
                        args.tgt_len,
                        args.alpha,
                        True,
                        encode,
                        step,
                    )
                steps_run.append(steps)

        first, times = timed(decode_all, args.warmup, args.steps)
        stats = summary(times, sentences)
        result.update(
            sentences=sentences,
            beam_width=args.beam if args.mode == "beam" else 1,
            length_penalty_alpha=args.alpha if args.mode == "beam" else None,
            decode_steps=sorted(set(steps_run)),
            sentences_per_s=stats.pop("median"),
            sentences_per_s_min=stats.pop("min"),
            sentences_per_s_max=stats.pop("max"),
        )
    result.update(stats)
    result["first_call_s"] = first  # includes compilation when compiling
    result["compiled_parts"] = {k: v for k, v in report.items() if k != "errors"}
    result["compile_errors"] = report.get("errors", {})
    if compile_on:  # parts Dynamo left to eager inside compiled functions
        from torch._dynamo.utils import counters

        result["graph_breaks"] = {
            reason.split("\n")[0][:300]: count
            for reason, count in counters["graph_break"].items()
        }
    result["loadavg_end"] = os.getloadavg()[0]  # 1-minute load: a noisy machine
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["train", "greedy", "beam"], default="train")
    parser.add_argument("--compile", type=int, choices=[0, 1], default=0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--src-len", type=int, default=12)
    parser.add_argument("--tgt-len", type=int, default=12, help="also decode steps")
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--encoder-layers", type=int, default=1)
    parser.add_argument("--bidirectional", type=int, choices=[0, 1], default=0)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.0, help="length penalty")
    parser.add_argument(
        "--sentences",
        type=int,
        default=0,
        help="sentences per timed step (default 256 greedy, 64 beam)",
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: torch default")
    parser.add_argument("--interop-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dtype-policy",
        default="float32",
        choices=["float32", "mixed_bfloat16"],
        help="mixed_bfloat16: the model runs under torch.autocast(bfloat16)",
    )
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.interop_threads:
        torch.set_num_interop_threads(args.interop_threads)
    result = run(args)
    result["command"] = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
