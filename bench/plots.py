"""PNG plots (matplotlib, from the optional `bench` extra; skipped with a note without it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS_DIR


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: no PNG; `make bench-deps` installs it)")
        return None
    return plt


def roc_plot(
    name: str,
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    title: str,
    marks: Sequence[float] = (1e-3, 1e-2),
) -> Path | None:
    """ROC with a log FAR axis: curves are (label, far, tar)."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for label, far, tar in curves:
        keep = far > 0
        ax.plot(far[keep], tar[keep], label=label, linewidth=1.4)
    for mark in marks:
        ax.axvline(mark, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (impostor pairs accepted)")
    ax.set_ylabel("true accept rate (genuine pairs accepted)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, plt, name)


def det_plot(
    name: str,
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    title: str,
    xlabel: str = "FPIR (strangers flagged as some talent)",
    ylabel: str = "FNIR (registered faces missed or misidentified)",
    points: Sequence[tuple[str, float, float]] = (),
) -> Path | None:
    """DET-style curves (log-log): curves are (label, x_error_rate, y_error_rate)."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for label, x, y in curves:
        keep = (x > 0) & (y > 0)
        ax.plot(x[keep], y[keep], label=label, linewidth=1.4)
    for label, point_x, point_y in points:
        at = (max(point_x, 1e-5), max(point_y, 1e-5))
        ax.scatter([at[0]], [at[1]], marker="o", s=24, zorder=3)
        ax.annotate(label, at, fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, plt, name)


def line_plot(
    name: str,
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
) -> Path | None:
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for label, x, y in series:
        ax.plot(list(x), list(y), marker="o", label=label, linewidth=1.4)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, plt, name)


def bar_plot(
    name: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    ylabel: str,
) -> Path | None:
    """Grouped bars: one group per label, one bar per series."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    width = 0.8 / max(len(series), 1)
    positions = np.arange(len(labels))
    for offset, (label, values) in enumerate(series):
        ax.bar(
            positions + offset * width,
            [v if v is not None else 0 for v in values],
            width,
            label=label,
        )
    ax.set_xticks(
        positions + width * (len(series) - 1) / 2, labels, rotation=20, ha="right", fontsize=8
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, plt, name)


def _save(fig: Any, plt: Any, name: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"  wrote {path}")
    return path
