"""The walls between packages (../shared/DESIGN.md, "Where things live"), checked on every
import statement of every module, at any depth: inside functions and under TYPE_CHECKING
too, since a function-level import is how a forbidden edge hides.

- core imports nothing of ours, and no Celery, Redis, torch or platform SDK;
- wire imports core only, and never torch;
- bots import core and wire, never workers or torch; a platform's package never imports
  another platform's;
- workers import core and wire, never bots or a platform SDK;
- training imports core and training, never bots, wire or a platform SDK.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("core", "wire", "bots", "workers", "training", "replyloop", "bench", "tests")
PLATFORMS = ("slack", "telegram", "wecom", "terminal")
SDKS = ("slack_sdk", "slack_bolt", "telegram", "wechatpy")
MODELS = ("torch", "transformers", "trl", "accelerate", "peft")

# package -> (our packages it may import, third-party top-level names it may not)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "core": (("core",), ("celery", "kombu", "redis", *MODELS, *SDKS)),
    "wire": (("core", "wire"), (*MODELS, *SDKS)),
    "bots": (("core", "wire", "bots"), MODELS),
    "workers": (("core", "wire", "workers"), SDKS),
    "training": (("core", "training"), ("celery", *SDKS)),
}


@dataclass(frozen=True)
class Edge:
    module: str  # the importing module, dotted
    line: int
    imported: str  # the imported module, dotted

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> list[Edge]:
    """Every import in the file, relative ones resolved."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            edges += [Edge(module, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            edges.append(Edge(module, node.lineno, absolute(node, package)))
    return edges


def absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` reads from, a relative one resolved in `package`."""
    base = node.module or ""
    if not node.level:
        return base
    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*anchor, base] if base else anchor)


def platform_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bots" and len(parts) > 1 and parts[1] in PLATFORMS else None


def forbidden(edge: Edge) -> str | None:
    """Why `edge` crosses a wall; None when it may."""
    home, top = edge.module.split(".")[0], edge.imported.split(".")[0]
    if home not in RULES:
        return None
    allowed, banned = RULES[home]
    if top in OURS and top not in allowed:
        return f"{home} never imports {top}"
    if top in banned:
        return f"{home} never imports {top}"
    theirs = platform_of(edge.imported)
    if home == "bots" and theirs is not None and platform_of(edge.module) != theirs:
        return f"only bots.{theirs} imports bots.{theirs}"
    return None


def crossings(root: Path) -> list[str]:
    found = []
    for package in RULES:
        for path in sorted((root / package).rglob("*.py")):
            found += [f"{edge}: {why}" for edge in imports(path, root) if (why := forbidden(edge))]
    return found


def test_no_module_crosses_a_wall() -> None:
    assert crossings(ROOT) == []


def test_every_package_is_walked() -> None:
    """The walk finds the imports it checks (a wrong root would pass by finding nothing)."""
    edges = [edge for path in (ROOT / "bots").rglob("*.py") for edge in imports(path, ROOT)]
    assert any(edge.imported.startswith("wire") for edge in edges)
    assert len(edges) > 200


@pytest.mark.parametrize(
    ("where", "source", "why"),
    [
        ("bots/slack/x.py", "def f():\n    from workers.engine import Engine\n", "workers"),
        ("bots/slack/x.py", "import torch\n", "torch"),
        ("bots/slack/x.py", "from bots.telegram import api\n", "bots.telegram"),
        ("bots/intake.py", "from bots.wecom.cards import x\n", "bots.wecom"),
        ("workers/x.py", "from bots import intake\n", "bots"),
        ("workers/x.py", "from ..bots import intake\n", "bots"),
        ("wire/x.py", "if TYPE_CHECKING:\n    from workers.engine import Engine\n", "workers"),
        ("core/x.py", "from celery import Celery\n", "celery"),
        ("training/x.py", "from wire.app import app\n", "wire"),
    ],
)
def test_a_forbidden_edge_is_found(tmp_path: Path, where: str, source: str, why: str) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    found = crossings(tmp_path)
    assert len(found) == 1 and why in found[0], found


def test_allowed_edges_pass(tmp_path: Path) -> None:
    for where, source in [
        ("bots/slack/x.py", "from bots.slack import web\nfrom bots.intake import accept\n"),
        ("bots/slack/y.py", "from . import web\nfrom wire.messages import send\n"),
        ("workers/x.py", "import torch\nfrom wire.live import LiveText\n"),
    ]:
        path = tmp_path / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    assert crossings(tmp_path) == []


def module_graph(root: Path) -> dict[str, set[str]]:
    """Our modules and the modules of ours each imports (any import: at the top, inside a
    function or under TYPE_CHECKING); `from a import b` is an edge to module a.b where that
    is a module, else to a."""
    paths = {module_name(p, root): p for package in RULES for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = absolute(node, package)
                subs = {f"{base}.{alias.name}" for alias in node.names} & paths.keys()
                targets |= subs or {base}
        graph[module] = {t for t in targets if t in paths and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each module that is on one (depth-first search)."""
    found: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            found.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        path.append(module)
        for target in sorted(graph.get(module, ())):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    return found


def test_no_import_cycles() -> None:
    assert cycles(module_graph(ROOT)) == []


def test_a_cycle_is_found(tmp_path: Path) -> None:
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "a.py").write_text("from workers.b import x\n")
    (tmp_path / "workers" / "b.py").write_text("def f():\n    from workers import a\n")
    assert cycles(module_graph(tmp_path)) == [["workers.a", "workers.b", "workers.a"]]
