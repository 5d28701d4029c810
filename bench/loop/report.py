"""bench/loop's verdict: each seed's rows as a table, the checks the issue sets, and the
mean and spread over seeds.

The checks (issue 21), each on the raters' rule (panel B, no noise) unless it says so:
  gain       the policy's approval at least GAIN points above the base model's
  trivial    every trivial baseline (a constant reply, the base model cut to 12 words, the
             base model's best of n under the training RM) at least MARGIN points below the
             policy: a benchmark a trivial bot can meet shows nothing, so this one fails
  on topic   the policy answers the message at least as often as the base model
  KL         KL(policy || base) along the policy's replies at most KL_MAX nats
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean, pstdev
from typing import Any

from training.eval_table import BASELINE, POLICY

GAIN, MARGIN, KL_MAX = 15.0, 10.0, 10.0


def points(estimate: dict[str, float]) -> float:
    return 100 * estimate["value"]


def checks(report: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    rows = report["rows"]
    policy = points(rows[POLICY]["approval"])
    base = points(rows[BASELINE]["approval"])
    trivial = {n: points(r["approval"]) for n, r in rows.items() if n not in (POLICY, BASELINE)}
    closest = max(trivial, key=lambda n: trivial[n])
    kl = report["kl_per_reply"]["value"]
    answers = (rows[POLICY]["answers"]["value"], rows[BASELINE]["answers"]["value"])
    return {
        "gain": (policy - base >= GAIN, f"{policy - base:+.1f} points over the base model"),
        "trivial": (
            policy - trivial[closest] >= MARGIN,
            f"{policy - trivial[closest]:+.1f} points over the closest, {closest}",
        ),
        "on topic": (
            answers[0] >= answers[1],
            f"answers {100 * answers[0]:.1f}% against the base model's {100 * answers[1]:.1f}%",
        ),
        "KL": (kl <= KL_MAX, f"{kl:.2f} nats a reply"),
    }


def _pct(e: dict[str, float]) -> str:
    return f"{100 * e['value']:5.1f} [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"


def show(report: dict[str, Any]) -> None:
    plan = report["plan"]
    print(f"\nbench/loop, seed {plan['seed']}, model {report['model']} -> {report['promoted']}")
    for name, r in report["served"].items():
        print(
            f"  {name} as served ({', '.join(r['model_versions'])}): {r['votes']} votes on "
            f"{r['replies']} replies, {100 * r['approval']:.1f}% 👍; answers the message "
            f"{100 * r['answers']:.1f}%; {r['mean_words']:.1f} words a reply"
        )
    print(f"  eval on {report['served']['round1']['replies']} held-out prompts; 95% intervals")
    print(
        f"  {'row':<36} {'rule approval %':<20} {'answers %':<20} {'judge win % vs base':<20} "
        f"{'judge score':<24} {'tokens':<7} distinct %"
    )
    for name, r in report["rows"].items():
        print(
            f"  {name:<36} {_pct(r['approval']):<20} {_pct(r['answers']):<20} "
            f"{_pct(r['win_rate']):<20} {_score(r['judge_score']):<24} "
            f"{r['length']['value']:<7.1f} {100 * r['distinct_share']['value']:.1f}"
        )
    print("  faults found by any rater (share of replies):")
    for name, r in report["rows"].items():
        shown = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["faults"].items() if v)
        print(f"    {name}: {shown or 'none'}")
    for name, (ok, said) in checks(report).items():
        print(f"  check {name}: {'met' if ok else 'NOT MET'}: {said}")
    print(f"  minutes: {report['minutes']} (target: total <= 50)")


def _score(e: dict[str, float]) -> str:
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def over_seeds(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean, spread (population sd) and range over seeds of each row's rule approval and
    answers share, the policy's gain and the KL."""

    def spread(values: list[float]) -> dict[str, float]:
        return {
            "mean": round(mean(values), 2),
            "sd": round(pstdev(values), 2),
            "min": round(min(values), 2),
            "max": round(max(values), 2),
        }

    names = list(reports[0]["rows"])
    return {
        "seeds": [r["plan"]["seed"] for r in reports],
        "approval": {n: spread([points(r["rows"][n]["approval"]) for r in reports]) for n in names},
        "answers": {n: spread([points(r["rows"][n]["answers"]) for r in reports]) for n in names},
        "judge_win_rate": {
            n: spread([points(r["rows"][n]["win_rate"]) for r in reports]) for n in names
        },
        "gain": spread(
            [
                points(r["rows"][POLICY]["approval"]) - points(r["rows"][BASELINE]["approval"])
                for r in reports
            ]
        ),  # fmt: skip
        "kl": spread([r["kl_per_reply"]["value"] for r in reports]),
        "minutes": spread([r["minutes"]["total"] for r in reports]),
        "checks_met": {
            name: sum(checks(r)[name][0] for r in reports) for name in checks(reports[0])
        },
    }


def show_seeds(summary: dict[str, Any]) -> None:
    print(f"\nbench/loop over seeds {summary['seeds']}: mean ± sd [min, max]")
    for figure in ("approval", "answers", "judge_win_rate"):
        print(f"  {figure} (%):")
        for name, s in summary[figure].items():
            print(f"    {name:<36} {_spread(s)}")
    for figure in ("gain", "kl", "minutes"):
        s = summary[figure]
        print(f"  {figure}: {s['mean']:.2f} ± {s['sd']:.2f} [{s['min']:.2f}, {s['max']:.2f}]")
    count = len(summary["seeds"])
    met = summary["checks_met"]
    print("  checks met: " + ", ".join(f"{k} {v}/{count}" for k, v in met.items()))


def _spread(s: dict[str, float]) -> str:
    return f"{s['mean']:6.1f} ± {s['sd']:.1f} [{s['min']:.1f}, {s['max']:.1f}]"
