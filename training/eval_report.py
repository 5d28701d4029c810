"""eval's report.md, report.json and the lines it prints: every figure as value [low, high]
(a 95 % bootstrap interval over prompts), the judge and whether it is independent, and
the table of the policy beside the trivial baselines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.bootstrap import Estimate
from training.eval_table import FIGURES, jsonable

HEADLINE = (
    "win_rate",
    "reward_policy",
    "reward_baseline",
    "kl_per_reply",
    "length_policy",
    "length_baseline",
)
EXPLAINED = {
    "judge_score": "the judge's mean score",
    "win_rate": "share of prompts where the row's reply beats the baseline's (a tie counts half)",
    "length": "reply length in tokens",
    "distinct_share": "distinct replies / prompts",
    "on_topic_share": "share of replies sharing a content word (stopwords removed) with the "
    "last user message (training/on_topic.py)",
}


def summary_text(summary: dict[str, Any]) -> str:
    """What `replyloop eval` prints: the judge, the headline figures, the table."""
    judge = summary["judge"]
    lines = [
        f"{'judge':>16}: {judge['version']} (independent: {judge['independent']})",
        f"{'prompts':>16}: {_drawn(summary)}",
    ]
    lines += [f"{key:>16}: {summary[key]}" for key in HEADLINE]
    lines += ["", _row_line("", FIGURES)]
    for name, figures in summary["rows"].items():
        lines.append(_row_line(name, [str(figures[f]) for f in FIGURES]))
    lines.append(f"best-of-n: {summary['best_of_n']}")
    return "\n".join(lines)


def _row_line(name: str, cells: Sequence[str]) -> str:
    return (f"{name:<34}" + "".join(f"{cell:<26}" for cell in cells)).rstrip()


def write_report(
    out: Path,
    summary: dict[str, Any],
    settings: dict[str, Any],
    examples: Sequence[dict[str, Any]],
    images: Sequence[str],
) -> Path:
    """report.md and report.json into `out`."""
    (out / "report.json").write_text(json.dumps(jsonable(summary), indent=2), encoding="utf-8")
    judge = summary["judge"]
    lines = [
        "# replyloop eval",
        "",
        f"Policy {summary.get('policy')} against baseline {summary.get('baseline')} on "
        f"{_drawn(summary)}. Figures are value [low, high], a 95 % bootstrap interval over "
        f"prompts ({summary['sampling']['resamples']} resamples).",
        "",
        "## Judge",
        "",
        f"- judge: {judge['version']} ({judge['path']})",
        f"- independent of the policy's training reward model: {judge['independent']}",
        f"- policy's training reward model: {judge['policy_training_rm'] or 'none recorded'}",
    ]
    for key, label in (("judge_run", "judge"), ("policy_training_rm_run", "training RM")):
        facts = judge.get(key)
        if facts:
            lines.append(
                f"- {label}'s run: {facts['kind']}, data {', '.join(facts['data']) or 'none'}, "
                f"seed {facts['seed']}, held out {facts['held_out']}"
            )
    lines += ["", "## Policy against baseline", "", "| figure | value [95 % interval] |"]
    lines.append("| --- | --- |")
    lines += [f"| {key} | {_shown(summary[key])} |" for key in HEADLINE]
    lines += ["", "## Beside the trivial baselines", "", "Same judge, same prompts.", ""]
    lines.append("| row | " + " | ".join(FIGURES) + " |")
    lines.append("| --- " * (len(FIGURES) + 1) + "|")
    for name, figures in summary["rows"].items():
        lines.append(f"| {name} | " + " | ".join(str(figures[f]) for f in FIGURES) + " |")
    lines += [""] + [f"- {name}: {text}" for name, text in EXPLAINED.items()]
    lines += [f"- best-of-n: {summary['best_of_n']}", ""]
    lines += ["## Settings", "", "```json", json.dumps(settings, indent=2), "```", ""]
    for image in images:
        lines += [f"![{image}]({image})", ""]
    if examples:
        lines += ["## Examples", ""]
        for example in examples:
            lines.append(f"**Prompt:** {_quote(example['prompt'][-1]['content'])}")
            lines.append("")
            lines.append(f"- policy ({example['score_a']:+.2f}): {_quote(example['reply_a'])}")
            lines.append(f"- baseline ({example['score_b']:+.2f}): {_quote(example['reply_b'])}")
            lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _drawn(summary: dict[str, Any]) -> str:
    drawn = summary["sampling"]
    if drawn["conversations"] is None:
        return f"{summary['prompts']} given prompts"
    return (
        f"{summary['prompts']} held-out prompts from {drawn['conversations']} conversations "
        f"(at most {drawn['per_conversation']} each, seed {drawn['seed']})"
    )


def _shown(value: Any) -> str:
    return str(value) if isinstance(value, Estimate) else f"{value}"


def _quote(text: str) -> str:
    return " ".join(text.split()) or "(empty)"
