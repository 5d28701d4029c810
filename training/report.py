"""The eval report's PNG plots (report.md itself: training.eval_report).

Plots: the training curves of the policy's own run (reward and KL per PPO step, or the
loss of an SFT/KTO run), when its metrics.jsonl is found, and the comparison (reward-model
scores of both models' replies, and per-reply KL of the policy to the baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CURVES = ("reward", "kl", "loss", "eval_loss", "entropy", "response_length")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    return plt


def training_curves(metrics: Sequence[dict[str, Any]], out: Path) -> list[str]:
    """One PNG per logged curve the run has; their file names."""
    plt = _pyplot()
    written = []
    for name in CURVES:
        points = [(row["step"], row[name]) for row in metrics if isinstance(row.get(name), float)]
        if len(points) < 2:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.2))
        steps, values = [s for s, _ in points], [v for _, v in points]
        ax.plot(steps, values, linewidth=0.8, alpha=0.5, label="per step")
        window = max(1, len(values) // 10)  # PPO's batches are small: show the trend too
        if window > 1:
            smooth = [
                sum(values[max(0, i - window + 1) : i + 1])
                / len(values[max(0, i - window + 1) : i + 1])
                for i in range(len(values))
            ]
            ax.plot(steps, smooth, linewidth=1.6, label=f"mean of {window}")
            ax.legend()
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        file = f"curve_{name}.png"
        fig.savefig(out / file, dpi=110)
        plt.close(fig)
        written.append(file)
    return written


def comparison_plot(
    scores_a: Sequence[float], scores_b: Sequence[float], kls: Sequence[float], out: Path
) -> str:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    bins = 30
    left.hist(scores_b, bins=bins, alpha=0.6, label="baseline")
    left.hist(scores_a, bins=bins, alpha=0.6, label="policy")
    left.set_xlabel("reward-model score")
    left.set_ylabel("replies")
    left.legend()
    right.hist(kls, bins=bins, color="tab:purple")
    right.set_xlabel("KL(policy || baseline) per reply, nats")
    right.set_ylabel("replies")
    fig.tight_layout()
    file = "comparison.png"
    fig.savefig(out / file, dpi=110)
    plt.close(fig)
    return file
