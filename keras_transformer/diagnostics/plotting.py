"""Figures for people: alignment heatmaps, per-head grids, training curves.

Every function writes an image file (the format follows the suffix: `.png`,
`.pdf`, `.svg`) with matplotlib's non-interactive Agg backend and returns
the path. matplotlib is imported when a figure is drawn, not with the
package.
"""

import csv
import math
import os

import numpy as np

# Columns of a run's history.csv (CSVLogger) and the panel each goes to.
HISTORY_PANELS = (
    ("loss", ("loss", "val_loss")),
    ("accuracy", ("accuracy", "val_accuracy", "masked_accuracy")),
    ("validation BLEU / chrF", ("val_bleu", "val_chrf")),
    ("learning rate", ("learning_rate",)),
)
ENTROPY_SUFFIX = "/head_entropy_mean"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    figure.savefig(path, dpi=figure.dpi, bbox_inches="tight")
    _pyplot().close(figure)
    return path


def _draw_panels(panels, columns, query_labels, key_labels, title, path):
    """Heatmaps in a grid; `panels` is a list of `(matrix (T, S), title)`.
    Query labels go on the first column, key labels on the last row."""
    plt = _pyplot()
    rows = math.ceil(len(panels) / columns)
    height, width = panels[0][0].shape
    cell = 0.25 if max(height, width) > 12 else 0.34  # inches per token
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(
            1.2 + columns * (1.0 + width * cell),
            1.0 + rows * (0.8 + height * cell),
        ),
        squeeze=False,
        dpi=100,
        layout="constrained",  # room for the title, labels and colorbar
    )
    image = None
    for index, axis in enumerate(axes.flat):
        if index >= len(panels):
            axis.axis("off")
            continue
        matrix, panel_title = panels[index]
        image = axis.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)
        axis.set_title(panel_title, fontsize=9)
        row, column = divmod(index, columns)
        axis.set_yticks(range(height))
        axis.set_yticklabels(query_labels if column == 0 else [], fontsize=7)
        axis.set_xticks(range(width))
        last_row = row == rows - 1 or index + columns >= len(panels)
        axis.set_xticklabels(key_labels if last_row else [], rotation=90, fontsize=7)
    figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="weight")
    if title:
        figure.suptitle(title, fontsize=10, y=1.04)
    return _save(figure, path)


def _labels(labels, count, prefix):
    labels = list(labels) if labels is not None else []
    return labels if len(labels) == count else [f"{prefix}{i}" for i in range(count)]


def plot_alignment(attention, path, layer=-1, average_layers=False, columns=None):
    """Cross-attention heatmaps of one translation.

    Target pieces run down (queries), source pieces across (keys).

    Args:
        attention: a `TranslationAttention` (`translation_attention`).
        path: the image file to write.
        layer: the decoder layer whose heads get a panel each, followed by
            their mean (negative counts from the last layer).
        average_layers: draw one panel per layer instead, heads averaged.
        columns: panels per row (default 3).

    Returns:
        `path`.
    """
    cross = attention.maps.decoder_cross
    if average_layers:
        panels = [
            (weights[0].mean(0), f"layer {index}: mean of heads")
            for index, weights in enumerate(cross)
        ]
    else:
        if not -len(cross) <= layer < len(cross):
            raise ValueError(
                f"layer {layer} is out of range: the decoder has {len(cross)} layers."
            )
        index = layer % len(cross)
        weights = cross[index][0]  # (N, T, S)
        panels = [(w, f"layer {index}, head {h}") for h, w in enumerate(weights)]
        panels.append((weights.mean(0), f"layer {index}: mean of heads"))
    title = f"{attention.source}\n→ {attention.translation}"
    columns = columns or 3
    return _draw_panels(
        panels,
        min(columns, len(panels)),
        attention.target_pieces,
        attention.source_pieces,
        title,
        path,
    )


def plot_head_grid(
    maps, path, kind="decoder_cross", example=0, query_labels=None, key_labels=None
):
    """A grid of the weights of every head: one row per layer.

    Args:
        maps: `AttentionMaps` (`extract_attention`).
        path: the image file to write.
        kind: `"encoder_self"`, `"decoder_self"` or `"decoder_cross"`.
        example: which example of the batch.
        query_labels, key_labels: tick labels (default: positions).

    Returns:
        `path`.
    """
    layers = maps.weights(kind)
    if not 0 <= example < len(layers[0]):
        raise ValueError(
            f"example {example} is out of range: the batch has {len(layers[0])}."
        )
    valid = maps.valid_pairs(kind)[example, 0]
    queries, keys = valid.any(1), valid.any(0)
    panels = [
        (head[queries][:, keys], f"{kind} {index}, head {h}")
        for index, weights in enumerate(layers)
        for h, head in enumerate(weights[example])
    ]
    height, width = panels[0][0].shape
    return _draw_panels(
        panels,
        len(layers[0][example]),
        _labels(query_labels, height, ""),
        _labels(key_labels, width, ""),
        f"{kind} attention, every layer and head",
        path,
    )


def read_history(path):
    """Reads a run's `history.csv` (or the workdir holding it) into a dict of
    float arrays, one per column; missing values (`NA`) become NaN."""
    if os.path.isdir(path):
        path = os.path.join(path, "history.csv")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No training history at {path}: pass a run's workdir (train() "
            "writes <workdir>/history.csv after each epoch) or the CSV file."
        )
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows:
        raise ValueError(f"{path} has no epochs yet.")

    def number(text):
        try:
            return float(text)
        except (TypeError, ValueError):
            return math.nan

    return {key: np.array([number(row.get(key)) for row in rows]) for key in rows[0]}


def plot_history(path, output):
    """Training curves of a run: loss, accuracy, validation BLEU and chrF,
    learning rate, and (when the run logged them) the mean attention entropy
    of each layer.

    Args:
        path: a run's workdir or its `history.csv`.
        output: the image file to write.

    Returns:
        `output`.
    """
    history = read_history(path)
    epochs = history.get("epoch", np.arange(len(next(iter(history.values())))))
    epochs = epochs + 1  # CSVLogger counts from 0; "after epoch 1" reads better
    panels = [
        (title, [c for c in columns if c in history])
        for title, columns in HISTORY_PANELS
    ]
    entropy = sorted(c for c in history if c.endswith(ENTROPY_SUFFIX))
    panels.append(("attention entropy (normalized)", entropy))
    panels = [(title, columns) for title, columns in panels if columns]
    if not panels:
        raise ValueError(f"{path} has none of the columns {HISTORY_PANELS}.")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    columns = 2 if len(panels) == 4 else min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False, dpi=100
    )
    for axis, (title, names) in zip(axes.flat, panels, strict=False):
        for name in names:
            label = name.removeprefix("attention/").removesuffix(ENTROPY_SUFFIX)
            axis.plot(epochs, history[name], marker="o", markersize=3, label=label)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        if title == "learning rate":
            axis.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    figure.suptitle(os.path.abspath(path), fontsize=9)
    figure.tight_layout()
    return _save(figure, output)
