"""ops/grafana/replyloop.json asks Prometheus only for series the processes export
(wire/metrics.py), and every metric exported has a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from wire import metrics
from wire.metrics import QueueCollector

DASHBOARD = Path(__file__).parents[2] / "ops" / "grafana" / "replyloop.json"


def exported() -> set[str]:
    """The sample names wire.metrics exports, the queue collector's included."""
    names = set()
    for value in vars(metrics).values():
        describe = getattr(value, "describe", None)
        if describe is None or isinstance(value, type):
            continue
        for family in describe():
            if family.type in ("counter",):
                names.add(family.name + "_total")
            elif family.type == "histogram":
                names.update(family.name + s for s in ("_bucket", "_count", "_sum"))
            else:
                names.add(family.name)
    registry = CollectorRegistry()
    registry.register(QueueCollector("redis://127.0.0.1:1/0", ()))
    names.update(family.name for family in registry.collect())
    return names


def test_the_dashboard_asks_for_exported_series_only_and_shows_them_all() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"replyloop_[a-z_]+", target["expr"])
    }
    names = exported()
    assert asked <= names, asked - names
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in asked}
    families = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in names}
    assert shown == families, families - shown
