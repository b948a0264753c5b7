"""The package's imports: no circle between modules or between folders (``TYPE_CHECKING`` imports
counted: each is a two-way dependency a reader must hold in mind), folders layered as
docs/architecture.md draws them, `autotuner/k8s/` knowing nothing of `engines/`, and the task at the
bottom: reading and validating one imports neither Ray, Kubernetes, a backend, a runner nor the
simulator."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# docs/architecture.md's layers, bottom first: a folder imports only from its own layer or below.
LAYERS = (("facts", "plugins"), ("flavors",), ("task",), ("k8s",), ("engines",), ("bench",), ("sim",), ("trial",),
          ("results",), ("twin",), ("stopping",), ("search",), ("campaign",), ("cli",), ("__init__",))
MAX_UPWARD = 3


def modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "autotuner").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def module_imports() -> dict[str, set[str]]:
    """autotuner module -> the autotuner modules it imports anywhere: at module level, inside
    functions and under ``if TYPE_CHECKING:``."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autotuner"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("autotuner")}
        graph[name] = targets - {name}
    return graph


def folder(module: str) -> str:
    """The folder (or top-level module) of ``autotuner`` a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def folder_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in module_imports().items():
        graph.setdefault(folder(module), set()).update(folder(t) for t in targets if folder(t) != folder(module))
    return graph


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


def upward_imports() -> list[tuple[str, str]]:
    """(module, module) imports from a folder to one in a higher layer."""
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    return sorted((m, t) for m, ts in module_imports().items() for t in ts
                  if layer[folder(t)] > layer[folder(m)])


def test_no_import_circle_between_modules_type_checking_imports_included():
    assert cycles(module_imports()) == []


def test_no_import_circle_between_folders():
    assert cycles(folder_imports()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def test_every_folder_has_a_layer_and_few_imports_point_up():
    assert set(folder_imports()) <= {name for names in LAYERS for name in names}
    assert len(upward_imports()) <= MAX_UPWARD, upward_imports()


def test_autotuner_has_only_its_public_face_beside_its_folders():
    flat = sorted(p.name for p in (ROOT / "autotuner").glob("*.py"))
    assert flat == ["__init__.py", "cli.py"]


def test_k8s_does_not_import_the_engines():
    assert {(m, t) for m, ts in module_imports().items() if m.startswith("autotuner.k8s") for t in ts
            if t.startswith("autotuner.engines")} == set()


HEAVY = ("ray", "kubernetes", "autotuner.engines", "autotuner.bench", "autotuner.sim", "autotuner.k8s",
         "autotuner.campaign", "genai_bench", "optuna")


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or "
             f"any(m == h or m.startswith(h + '.') for h in {HEAVY!r}))))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_reading_and_validating_a_task_imports_nothing_heavy():
    assert loaded_after("import autotuner.task") == []
    code = ("from autotuner.task.load import load_spec\n"
            "for path in ('examples/quickstart.yaml', 'examples/quickstart-vllm.yaml', 'examples/ome-llama-3.2-1b.yaml'):\n"
            "    spec, problems = load_spec(path)\n"
            "    assert spec is not None and problems == [], (path, problems)")
    # The chosen backend's and runner's spec rules are all validation loads of their folders.
    assert set(loaded_after(code)) <= {"autotuner.bench", "autotuner.bench.rules", "autotuner.engines",
                                      "autotuner.engines.rules"}
