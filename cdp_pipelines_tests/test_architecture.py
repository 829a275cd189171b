"""The package's shape: every module imports, the import graph has no cycle, the shared
names live in a leaf module, and loading the definitions (what the UI and the CLI do at
start-up) imports no compute engine."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import cdp_pipelines

PACKAGE = Path(cdp_pipelines.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # A package's own __init__ importing its submodules is not a cycle.
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_every_module_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(cdp_pipelines.__path__, "cdp_pipelines.")]
    assert "cdp_pipelines.tenant.loader" in names and "cdp_pipelines.keys" in names
    for name in names:
        importlib.import_module(name)


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["cdp_pipelines.sources.assets"], "the graph reader found no imports"
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_shared_names_and_the_pii_rule_are_leaves() -> None:
    modules = _modules()
    for leaf in ("cdp_pipelines.keys", "cdp_pipelines.governance.pii"):
        assert _imports(leaf, modules[leaf], modules) == set(), leaf


def test_only_the_tenant_package_reads_tenant_yaml() -> None:
    modules = _modules()
    # The roles file is the operators' (CDP_ROLES_FILE), not part of the tenant's config.
    allowed = {"cdp_pipelines.governance.roles"}
    readers = {name for name, path in modules.items()
               if "yaml.safe_load" in path.read_text(encoding="utf-8")
               and not name.startswith(("cdp_pipelines.tenant", "cdp_pipelines.examples"))}
    assert readers <= allowed


def test_loading_the_definitions_imports_no_compute_engine() -> None:
    heavy = ["splink", "pandas", "great_expectations", "boto3", "paramiko", "matplotlib",
             "sqlalchemy", "delta"]
    # pyspark's Python package comes with dagster-pyspark, whose lazy resource SparkResource
    # is (a quarter of a second); its JVM must not start until an asset asks for a session.
    code = ("import sys, cdp_pipelines.definitions; from pyspark import SparkContext; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules), "
            "SparkContext._gateway is None and SparkContext._active_spark_context is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True"


def test_the_code_has_no_unused_name_and_sorted_imports() -> None:
    """ruff's pyflakes (F: unused imports and variables, undefined names) and isort (I)
    rules over the package, its tests and the benchmarks."""
    root = PACKAGE.parent
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), "check", "--no-cache", "--select", "F,I",
                          "cdp_pipelines", "cdp_pipelines_tests", "benchmarks"],
                         cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
