"""The layout is the architecture: layers point one way, no module imports in a cycle, what
every capability shares lives in ``service/core/``, wire types stay small and next to their
capability, and routers only parse, call and answer."""

from __future__ import annotations

import ast
from pathlib import Path

from indexer.settings import PROJECT_ROOT

# Parts of service/, from the top down (``core`` is service/core/, service/rules/ and
# service/migrations/): a part may import the parts below it, never above.
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


def _service_modules_outside_core() -> dict[str, Path]:
    return {
        name: path
        for name, path in _modules("service").items()
        if _part(name) != "core" and name not in TOP_LEVEL_APPS and name != "service"
    }


def test_no_module_outside_core_is_imported_by_more_than_a_quarter_of_the_others() -> None:
    """What most of the service needs belongs in core/; anything else imported by more than
    a quarter of the modules is a shared middle that makes every change touch it."""
    modules = _modules("service")
    importers: dict[str, int] = dict.fromkeys(modules, 0)
    for name, path in modules.items():
        for target in _imports(path) & set(modules) - {name}:
            importers[target] += 1
    quarter = (len(modules) - 1) / 4
    crowded = {
        name: importers[name]
        for name in _service_modules_outside_core()
        if importers[name] > quarter and not name.endswith(".__init__")
    }
    assert not crowded, f"imported by more than {quarter:.0f} modules: {crowded}"


def _wire_schema_files() -> list[Path]:
    return sorted((PROJECT_ROOT / "service").rglob("*schemas.py"))


def test_wire_schema_files_are_small_and_hold_no_domain_enums() -> None:
    assert len(_wire_schema_files()) >= 7  # core plus one per capability with an API
    for path in _wire_schema_files():
        lines = path.read_text().count("\n")
        assert lines <= 300, f"{path.relative_to(PROJECT_ROOT)}: {lines} lines"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                assert not bases & {"StrEnum", "Enum", "IntEnum"}, (
                    f"{path.relative_to(PROJECT_ROOT)}: domain enum {node.name} belongs with its "
                    "capability or in rules/, not in a wire-schema file"
                )


def test_routers_declare_roles_in_their_signatures_not_their_bodies() -> None:
    """A route's role is declared once (``RequireRole`` in service/api/deps.py)."""
    for path in sorted((PROJECT_ROOT / "service" / "api" / "routers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "require"
            ):
                raise AssertionError(f"{path.name}:{node.lineno} calls require(")


def test_routers_never_import_each_other() -> None:
    """Use cases live with their capability; a router is imported only by the app."""
    for name, path in _modules("service").items():
        sideways = {i for i in _imports(path) if i.startswith("service.api.routers.")}
        if name != "service.api.app":
            assert not sideways, f"{name} imports {sorted(sideways)}"


def _project_names(tree: ast.Module) -> set[str]:
    """Names a module binds by importing from this project (indexer, service)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT:
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] in PROJECT
            )
    return names


PROJECT = {"indexer", "service"}


def test_no_module_patches_another_at_import_time() -> None:
    """Composition roots pass things down; nobody assigns into another project module's
    globals (a library's own setting, such as Pillow's pixel limit, is not patching)."""
    for name, path in {**_modules("service"), **_modules("indexer")}.items():
        tree = ast.parse(path.read_text())
        imported = _project_names(tree)
        for node in tree.body:
            for target in node.targets if isinstance(node, ast.Assign) else []:
                root = target
                while isinstance(root, ast.Attribute):
                    root = root.value
                patched = isinstance(target, ast.Attribute) and isinstance(root, ast.Name)
                assert not (patched and isinstance(root, ast.Name) and root.id in imported), (
                    f"{name}:{node.lineno} assigns {ast.unparse(target)} at import time"
                )
