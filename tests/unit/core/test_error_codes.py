"""One error code per error class (issue 7 §7): no two classes share a code, no code is
written out by hand where a class should be raised, and every category has a status."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections import defaultdict
from pathlib import Path

import indexer
import service
from indexer.errors import ErrorCategory, TwinwatchError
from indexer.settings import PROJECT_ROOT
from service.api.errors import FRAMEWORK_ERRORS, STATUS_BY_CATEGORY

SOURCES = sorted(
    [*(PROJECT_ROOT / "indexer").rglob("*.py"), *(PROJECT_ROOT / "service").rglob("*.py")]
)


def _all_error_classes() -> set[type[TwinwatchError]]:
    for package in (indexer, service):
        for module in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if ".migrations." in module.name + ".":  # Alembic runs these, not an import
                continue
            importlib.import_module(module.name)
    found: set[type[TwinwatchError]] = set()
    pending: list[type[TwinwatchError]] = [TwinwatchError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_no_two_error_classes_share_a_code() -> None:
    by_code: dict[str, list[str]] = defaultdict(list)
    for cls in _all_error_classes():
        by_code[cls.code].append(f"{cls.__module__}.{cls.__qualname__}")
    shared = {code: sorted(names) for code, names in by_code.items() if len(names) > 1}
    assert not shared, shared
    assert len(by_code) >= 35


def test_every_category_has_an_http_status() -> None:
    assert set(STATUS_BY_CATEGORY) == set(ErrorCategory)
    assert all(400 <= status <= 599 for status in STATUS_BY_CATEGORY.values())
    assert {STATUS_BY_CATEGORY[cls.category] for cls in FRAMEWORK_ERRORS.values()} == {
        401,
        403,
        404,
        405,
        413,
        422,
    }


def _relative(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT))


def test_no_error_code_is_written_out_by_hand() -> None:
    """A dict with a literal "code" (an error body built by hand) instead of a class."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "code"
                        and isinstance(value, ast.Constant)
                    ):
                        found.append(f"{_relative(path)}:{node.lineno}")
    assert not found, found


def test_no_error_is_raised_with_another_code() -> None:
    """Neither ``SomeError(..., code=...)`` nor ``error.code = ...`` outside its class."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and any(k.arg == "code" for k in node.keywords):
                name = ast.unparse(node.func)
                if name.endswith("Error"):
                    found.append(f"{_relative(path)}:{node.lineno} {name}")
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute) and target.attr == "code":
                        found.append(f"{_relative(path)}:{node.lineno} .code =")
    assert not found, found
