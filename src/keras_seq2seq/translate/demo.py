"""The demo: a small English-French model trained on the bundled corpus in
about ten minutes on two CPU cores, its test BLEU, a few translations and an
attention heatmap."""

import sys
import time

from keras_seq2seq.translate.evaluation import evaluate
from keras_seq2seq.translate.inference import load
from keras_seq2seq.translate.split import load_split
from keras_seq2seq.translate.training import train

# A small model and vocabulary, short sentences (at most 12 pieces a side,
# about 60% of the corpus) and small batches at a high learning rate: about
# 2,000 updates in 8.5 minutes on two busy CPU cores (JAX).
DEMO_OPTIONS = {
    "vocab_size": 2000,
    "max_length": 12,
    "batch_size": 64,
    "learning_rate": 0.003,
    "embedding_dim": 96,
    "encoder_layers": 1,
    "encoder_units": 96,
    "decoder_units": 192,
    "dropout": 0.0,
    "epochs": 50,
    "patience": 3,
    "bleu_sentences": 200,
}
# Time kept for everything but training: reading and splitting the corpus,
# tokenizers, compiling, the test set, the examples and the heatmap.
OVERHEAD_MINUTES = 1.5
EXAMPLES = 5
HEATMAP = "attention.png"
SHORT_TEST = "test_short.tsv"


def demo(out_dir="keras-seq2seq-demo", minutes=10.0, log=None):
    """Trains the demo model into `out_dir`, then prints its test BLEU, a
    few test translations and writes an attention heatmap
    (`out_dir/attention.png`).

    The test BLEU is given twice, greedy decoding: on the whole test split
    recorded at training, and on its pairs of at most
    `DEMO_OPTIONS["max_length"]` pieces a side (the lengths the demo trains
    on; written to `out_dir/test_short.tsv`).

    Training gets `minutes` minus `OVERHEAD_MINUTES` (at least one minute).
    Running the demo again with the same `out_dir` trains the model further
    for that time.

    Args:
        out_dir: the model directory.
        minutes: the time the whole demo should take.
        log: function of one line for progress; None writes to stderr.
            Results (scores, translations, paths) go to stdout.

    Returns:
        A dict: `evaluation` and `short_evaluation` (from `evaluate`),
        `examples` (source, output, reference triples), `heatmap` (its
        path), `model` (`out_dir`), `seconds` (the whole demo).
    """
    start = time.monotonic()
    log = log or _stderr_line
    train_minutes = max(1.0, float(minutes) - OVERHEAD_MINUTES)
    log(f"demo: training for {train_minutes:g} minutes, then evaluating")
    train(out_dir, max_minutes=train_minutes, log=log, **DEMO_OPTIONS)
    translator = load(out_dir)
    test = load_split(out_dir).test
    full = evaluate(translator, log=log)
    short = _short_pairs(translator, test, DEMO_OPTIONS["max_length"])
    path = translator.directory / SHORT_TEST
    path.write_text("".join(f"{s}\t{t}\n" for s, t in short), encoding="utf-8")
    short_result = evaluate(translator, pairs=path, log=log)
    print(
        f"test BLEU {full['bleu']:.1f} (chrF2 {full['chrf']:.1f}) on the "
        f"{full['sentences']:,} pairs of the test split, greedy decoding"
    )
    print(
        f"test BLEU {short_result['bleu']:.1f} (chrF2 {short_result['chrf']:.1f}) on "
        f"its {short_result['sentences']:,} pairs of at most "
        f"{DEMO_OPTIONS['max_length']} pieces a side, the lengths the demo trains on"
    )

    candidates = list(dict.fromkeys(s for s, _ in short if len(s.split()) >= 4))
    candidates = candidates or list(dict.fromkeys(s for s, _ in short))
    step = max(1, len(candidates) // EXAMPLES)
    chosen = candidates[::step][:EXAMPLES]
    references = dict(short)
    outputs = translator.translate(chosen)
    print("test sentences (source => output | a reference):")
    for source, output in zip(chosen, outputs):
        print(f"  {source} => {output} | {references[source]}")

    from keras_seq2seq.plot import plot_attention

    index = max(range(len(chosen)), key=lambda i: len(chosen[i].split()))
    source, target, weights = translator.attention(chosen[index])
    heatmap = translator.directory / HEATMAP
    plot_attention(
        weights, source, target, heatmap, title=f"{chosen[index]}\n→ {outputs[index]}"
    )
    seconds = time.monotonic() - start
    print(f"attention heatmap of {chosen[index]!r}: {heatmap}")
    print(f"model directory: {out_dir} (config.json, history.json, model.keras)")
    print(f'try: keras-seq2seq translate --model {out_dir} "I\'m hungry."')
    print(f"demo finished in {seconds / 60:.1f} minutes")
    return {
        "evaluation": full,
        "short_evaluation": short_result,
        "examples": [(s, o, references[s]) for s, o in zip(chosen, outputs)],
        "heatmap": str(heatmap),
        "model": str(out_dir),
        "seconds": seconds,
    }


def _short_pairs(translator, pairs, max_length):
    """The pairs whose source and target + eos have at most `max_length` pieces."""
    sources = translator.source_tokenizer.encode(list(pairs.sources))
    targets = translator.target_tokenizer.encode(list(pairs.targets))
    return [
        pair
        for pair, s, t in zip(pairs, sources, targets)
        if len(s) <= max_length and len(t) + 1 <= max_length
    ]


def _stderr_line(line):
    print(line, file=sys.stderr, flush=True)
