"""Every byte that is not a database row goes through the blob store (indexer/blobs/): no
other module names the data folder's areas or builds a path into the data folder for them,
so a process on another machine, sharing only the database and the bucket, sees the same
bytes."""

from __future__ import annotations

import ast
from pathlib import Path

from indexer.blobs.layout import CONSENT_DOCUMENTS, EVIDENCE, JOB_UPLOADS, PHOTOS
from indexer.settings import PROJECT_ROOT

AREAS = (PHOTOS, EVIDENCE, CONSENT_DOCUMENTS, JOB_UPLOADS)
OLD_FOLDER_HELPERS = {
    "photos_dir",
    "evidence_dir",
    "job_uploads_dir",
    "consent_documents_dir",
    "uploads_dir",
}
# What each process keeps locally under the data folder: derived or its own (the embedded
# SQLite file, the model cache, the FAISS index rebuilt from the database).
LOCAL_UNDER_DATA_DIR = {"twinwatch.db", "models", "index"}


def _sources() -> list[Path]:
    blob_package = PROJECT_ROOT / "indexer" / "blobs"
    return [
        path
        for package in ("indexer", "service", "bench")
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        if blob_package not in path.parents and "migrations" not in path.parts
    ]


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PROJECT_ROOT)}:{getattr(node, 'lineno', '?')}"


def test_no_module_outside_the_blob_store_uses_the_old_data_folder_helpers() -> None:
    uses = [
        _where(path, node)
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.Attribute) and node.attr in OLD_FOLDER_HELPERS)
        or (isinstance(node, ast.Name) and node.id in OLD_FOLDER_HELPERS)
        or (isinstance(node, ast.FunctionDef) and node.name in OLD_FOLDER_HELPERS)
    ]
    assert uses == []


def test_no_module_outside_the_blob_store_names_a_blob_area() -> None:
    """Area names live in indexer/blobs/layout.py; a path like ``"evidence/..."`` or
    ``folder / "photos"`` elsewhere would bypass the store."""
    uses = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        parents = _parents(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            value = node.value
            joined = isinstance(parents.get(node), ast.BinOp) and value in AREAS
            keyed = any(value.startswith(f"{area}/") for area in AREAS)
            if joined or keyed or value in (JOB_UPLOADS, CONSENT_DOCUMENTS):
                uses.append(f"{_where(path, node)} {value!r}")
    assert uses == []


def test_the_data_folder_is_joined_only_with_what_a_process_keeps_locally() -> None:
    """``data_dir / "x"`` only for the SQLite file, the model cache and the FAISS index."""
    joins = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
                continue
            left = node.left
            if isinstance(left, ast.Attribute) and left.attr == "data_dir":
                right = node.right
                name = right.value if isinstance(right, ast.Constant) else ast.dump(right)
                if name not in LOCAL_UNDER_DATA_DIR:
                    joins.append(f"{_where(path, node)} {name!r}")
    assert joins == []
