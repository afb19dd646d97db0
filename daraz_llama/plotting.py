"""A grouped bar chart of the evaluation metrics per mode."""

from __future__ import annotations

from pathlib import Path

from daraz_llama.evaluation import METRIC_NAMES
from daraz_llama.judgments import GRADED_METRIC_NAMES


def plot_metrics(summaries: dict[str, dict[str, float]], out: str | Path, title: str) -> Path:
    """Write a PNG with one group of bars per metric and one bar per mode, values on the bars
    (the graded metrics too, when the summaries have them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(summaries)
    names = [*METRIC_NAMES, *(m for m in GRADED_METRIC_NAMES if all(m in s for s in summaries.values()))]
    width = 0.8 / max(len(modes), 1)
    fig, ax = plt.subplots(figsize=(2.2 * len(names) + 1, 4.8), dpi=120)
    for i, mode in enumerate(modes):
        xs = [m + (i - (len(modes) - 1) / 2) * width for m in range(len(names))]
        values = [summaries[mode][name] for name in names]
        bars = ax.bar(xs, values, width * 0.95, label=f"{mode} (p50 {summaries[mode]['p50_ms']:.0f} ms)")
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(names)), [n.replace("recall", "R").replace("_condensed", "\ncondensed") for n in names])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (product level; graded: ESCI judgments)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8, ncols=min(len(modes), 4))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
