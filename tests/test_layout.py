"""The layout is the architecture: layers point one way and no module imports in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from indexer.settings import PROJECT_ROOT

# Parts of service/, from the top down: a part may import the parts below it, never above.
# ``service.context`` (the composition root's object graph) sits between the parts that use
# the whole context and the parts that only get the narrow pieces they need. The console (web
# pages for people) is the top HTTP surface beside the API: it reuses the API's plumbing
# (context dependency, the one error-status mapping) and nothing imports it but the app.
SERVICE_LAYERS = [
    "console",
    "api",
    "crawl",
    "jobs",
    "talents",
    "context",
    "takedowns",
    "scanning",
    "alerts",
    "licensing",
    "access",
    "core",
]
TOP_LEVEL_APPS = {
    "service.cli",
    "service.demo",
    "service.startup",  # wire everything together
    "service.api.app",
}  # mounts the API routers and the console beside them


def _modules(package: str) -> dict[str, Path]:
    root = PROJECT_ROOT / package
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _part(module: str) -> str:
    if module == "service.context":
        return "context"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in SERVICE_LAYERS else "core"


def test_indexer_never_imports_service_or_fastapi() -> None:
    for name, path in _modules("indexer").items():
        bad = {i for i in _imports(path) if i.split(".")[0] in {"service", "fastapi", "starlette"}}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_service_parts_import_only_downwards() -> None:
    modules = _modules("service")
    violations = []
    for name, path in modules.items():
        if name in TOP_LEVEL_APPS:
            continue
        mine = SERVICE_LAYERS.index(_part(name))
        for target in _imports(path) & set(modules):
            theirs = SERVICE_LAYERS.index(_part(target))
            if theirs < mine:
                violations.append(f"{name} ({_part(name)}) -> {target} ({_part(target)})")
    assert not violations, "\n".join(sorted(violations))


def test_no_import_cycles_between_modules() -> None:
    modules = {**_modules("service"), **_modules("indexer")}
    graph = {
        name: {
            t for t in _imports(path) & set(modules) if t != name and not name.startswith(t + ".")
        }
        for name, path in modules.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
