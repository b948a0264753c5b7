"""The package's module-level imports: no circle, and `autotuner/k8s/` knows nothing of `engines/`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_imports(deferred: bool = False) -> dict[str, set[str]]:
    """autotuner module -> the autotuner modules it imports at module level (``deferred``: inside
    functions too); never those under TYPE_CHECKING, which only the type checker reads."""
    modules = {}
    for path in (ROOT / "autotuner").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        tree = ast.parse(path.read_text())
        for node in (_runtime_nodes(tree) if deferred else tree.body):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autotuner"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("autotuner")}
        graph[name] = targets
    return graph


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    out = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        out += [node, *_runtime_nodes(node)]
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, done = [], set()

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, stack + [nxt])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    return found


def test_no_import_circle_even_through_deferred_imports():
    assert cycles(module_imports()) == []
    assert cycles(module_imports(deferred=True)) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def test_k8s_does_not_import_the_engines():
    graph = module_imports(deferred=True)
    assert {(m, t) for m, ts in graph.items() if m.startswith("autotuner.k8s") for t in ts
            if t.startswith("autotuner.engines")} == set()
