"""Attention heatmaps (matplotlib, the optional `plot` extra)."""

import pathlib

import numpy as np


def plot_attention(weights, source_tokens, target_tokens, path, title=None):
    """Writes a heatmap of attention weights to a PNG file.

    Rows are output (target) tokens, columns input (source) tokens; a cell's
    shade is the weight the decoder gave that source token when it emitted
    that target token. Source labels are written above the map, rotated, so
    the map reads like an alignment. The figure grows with the token counts
    so that every label stays readable. No display is needed: the figure is drawn straight to the file
    (Agg), without pyplot.

    Args:
        weights: array-like `[len(target_tokens), len(source_tokens)]`.
        source_tokens: list of str, the column labels.
        target_tokens: list of str, the row labels.
        path: the PNG file to write (its directory must exist).
        title: optional title, e.g. the source sentence.

    Returns:
        `path` as a `pathlib.Path`.

    Raises:
        ImportError: matplotlib is not installed
            (`pip install "keras-seq2seq[plot]"`).
        ValueError: `weights` does not match the token counts.

    Example:
    >>> import tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "attention.png"
    >>> weights = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]
    >>> plot_attention(weights, ["▁Hi", "."], ["▁Salut", "▁!", "</s>"], path).name
    'attention.png'
    >>> path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    weights = np.asarray(weights, dtype=np.float32)
    source_tokens, target_tokens = list(source_tokens), list(target_tokens)
    expected = (len(target_tokens), len(source_tokens))
    if weights.shape != expected:
        raise ValueError(
            "`weights` must have shape (len(target_tokens), len(source_tokens)) = "
            f"{expected}. Received: weights.shape={weights.shape}"
        )
    figure_class = _figure_class()
    longest = max((len(token) for token in source_tokens + target_tokens), default=1)
    # About 0.4 inch per token plus room for the labels and the colour bar.
    label_room = 0.5 + 0.09 * longest
    width = min(40.0, 2.5 + label_room + 0.4 * max(len(source_tokens), 3))
    height = min(
        40.0,
        1.0 + label_room + (0.5 if title else 0.0) + 0.4 * max(len(target_tokens), 3),
    )
    figure = figure_class(figsize=(width, height))
    axes = figure.subplots()
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
    axes.set_xticks(range(len(source_tokens)))
    axes.set_xticklabels(source_tokens, rotation=60, ha="left")
    axes.set_yticks(range(len(target_tokens)))
    axes.set_yticklabels(target_tokens)
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    axes.tick_params(length=0)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colorbar.set_label("attention weight")
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path = pathlib.Path(path)
    figure.savefig(path, format="png", dpi=100)
    return path


def _figure_class():
    """`matplotlib.figure.Figure`: figures drawn straight to a file, without
    pyplot, so no display is needed and pyplot's global backend is untouched."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "Plotting attention needs matplotlib: "
            'pip install "keras-seq2seq[plot]" (or: pip install matplotlib)'
        ) from error
    return Figure
