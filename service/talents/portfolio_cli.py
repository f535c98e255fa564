"""`twinwatch portfolio add|list|remove`: a talent's portfolio from the command line (the
operator's; agencies use the API or the console)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from indexer.cli import err, out, runtime
from indexer.imaging import DecodeLimits
from indexer.registry import PhotoInput
from service.core.settings import ServiceSettings
from service.talents import portfolio

portfolio_app = typer.Typer(
    help="Talents' portfolios: images found when copied (never used for face matching).",
    no_args_is_help=True,
)


@portfolio_app.command("add")
def portfolio_add(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    talent: Annotated[int, typer.Option("--talent", help="The talent's id.")],
) -> None:
    """Register image files in a talent's portfolio (exit 1 if any was refused)."""
    settings = ServiceSettings()
    if len(files) > settings.max_batch_items:
        err.print(f"[red]error[/red]: at most {settings.max_batch_items} files at once")
        raise typer.Exit(2)
    inputs = [PhotoInput(path.name, path.read_bytes()) for path in files]
    with runtime() as rt:
        outcomes = portfolio.add_images(
            rt.copies,
            talent_id=talent,
            files=inputs,
            limits=DecodeLimits.of(rt.settings),
            max_images=settings.max_portfolio_images,
        )
    for outcome in outcomes:
        if not outcome.accepted:
            out.print(f"{outcome.label}: [red]refused[/red] {outcome.reason}")
        elif outcome.already_registered:
            out.print(f"{outcome.label}: already in the portfolio (image {outcome.image_id})")
        else:
            out.print(f"{outcome.label}: portfolio image {outcome.image_id}")
    if any(not o.accepted for o in outcomes):
        raise typer.Exit(1)


@portfolio_app.command("list")
def portfolio_list(talent: Annotated[int, typer.Option("--talent")]) -> None:
    """A talent's portfolio images."""
    with runtime() as rt:
        entries, total = portfolio.list_images(rt.copies, talent_id=talent, limit=10_000)
    table = Table("id", "name", "size", "face", title=f"portfolio of talent {talent}: {total}")
    for entry in entries:
        face = "-" if entry.face_box is None else ",".join(f"{v:.0f}" for v in entry.face_box)
        table.add_row(str(entry.id), entry.name, f"{entry.width}x{entry.height}", face)
    out.print(table)


@portfolio_app.command("remove")
def portfolio_remove(image_id: int) -> None:
    """Remove one portfolio image (its file, its row, its index entries)."""
    with runtime() as rt:
        portfolio.remove_image(rt.copies, talent_id=None, image_id=image_id)
    out.print(f"portfolio image {image_id} removed")
