"""The built portfolio index kept on this machine's local disk, so that a process starting
afresh loads it in seconds instead of adding every descriptor to FAISS again (111 s at
10,000 portfolio images, nearly all of a build from the kept features).

Derived data, like the face index's file: the portfolio rows are the truth. A kept index is
used only when it is of this code's format, and only for the images whose id *and* stored
file the database still holds; the detector then adds what is new since and drops what is
gone (:meth:`CopyDetector.ensure_current`).

Erasure: an image leaving the portfolio (removed, or its talent erased) must leave no
descriptor on disk either. The kept files are deleted by the erasing process itself (the
erase hook, :meth:`KeptCopyIndex.erase_hook`) and by any process whose index drops an image;
a new one is written only from an index that has caught up with the database
(:meth:`CopyDetector.keep`), at the end of the start-up build and at a clean shutdown, and
is deleted again if the portfolio changed while it was written.

Layout, in ``<index dir>/copies/``: ``manifest.json`` names the format and one generation's
two files, ``<generation>.faissbin`` (FAISS's own binary index format) and
``<generation>.npz`` (each slot's image, points and face box; no pickles). The manifest is
replaced last, so a reader sees one whole generation or none.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from indexer.boxes import Box
from indexer.copies.features import DESCRIPTOR_BYTES, FEATURES_VERSION
from indexer.copies.index import MAX_POINTS, DescriptorIndex, IndexedImage, IndexSnapshot
from indexer.copies.tables import forget_portfolio

log = logging.getLogger(__name__)

#: What a kept index must have been written with to be used (else it is rebuilt).
FORMAT = f"copy-index-1/features-{FEATURES_VERSION}/points-{MAX_POINTS}/bytes-{DESCRIPTOR_BYTES}"
MANIFEST = "manifest.json"
GENERATION = re.compile(r"[0-9a-f]{16}")  # secrets.token_hex(8)
NO_BOX = np.full(4, np.nan)


@dataclass(frozen=True)
class LoadedIndex:
    index: DescriptorIndex
    stored_paths: dict[int, str]  # image id -> the stored original it was built from


class KeptCopyIndex:
    """The kept index files of one machine (one folder); safe to share between processes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def exists(self) -> bool:
        return (self.folder / MANIFEST).exists()

    # --- writing -----------------------------------------------------------------------------
    def save(self, index: DescriptorIndex, stored_paths: dict[int, str]) -> None:
        """Write this generation, then point the manifest at it, then drop older ones."""
        self.folder.mkdir(parents=True, exist_ok=True)
        generation = secrets.token_hex(8)
        snapshot = index.snapshot()
        faiss_file = self._part(generation, ".faissbin")
        faiss.write_index_binary(snapshot.faiss_index, str(faiss_file))
        with faiss_file.open("rb") as written:
            os.fsync(written.fileno())  # on disk before the manifest names it
        with self._part(generation, ".npz").open("wb") as out:
            np.savez(out, **_slot_arrays(snapshot, stored_paths))
            out.flush()
            os.fsync(out.fileno())
        manifest = {
            "format": FORMAT,
            "generation": generation,
            "descriptors": index.descriptors,
            "slots": len(snapshot.slots),
            "images": len(stored_paths),
        }
        staged = self.folder / f".{generation}.{MANIFEST}"
        staged.write_text(json.dumps(manifest))
        staged.replace(self.folder / MANIFEST)
        self._drop_other_generations(generation)
        log.info("copy index kept: %d images, %d descriptors", len(stored_paths), index.descriptors)

    def delete(self) -> None:
        """Remove every kept file (the manifest first, so no reader picks up a half)."""
        (self.folder / MANIFEST).unlink(missing_ok=True)
        self._drop_other_generations(None)

    def erase_hook(self, session: Session, talent_id: int) -> None:
        """Registry erase hook: the portfolio revision moves on (:func:`forget_portfolio`)
        and, when she had portfolio images, the kept index (holding her descriptors) goes."""
        if forget_portfolio(session, talent_id):
            self.delete()

    # --- reading -----------------------------------------------------------------------------
    def load(self) -> LoadedIndex | None:
        """The kept index, or None (none kept, another format, or unreadable: rebuild)."""
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("kept copy index not used: manifest unreadable (%s)", exc)
            return None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            log.info("kept copy index not used: another format")
            return None
        try:
            return self._read(manifest)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            log.warning("kept copy index not used: %s", exc)
            return None

    def _read(self, manifest: dict[str, Any]) -> LoadedIndex:
        generation = str(manifest["generation"])
        if not GENERATION.fullmatch(generation):  # a name of ours, never a path
            raise ValueError(f"generation {generation[:40]!r} is not one this code writes")
        faiss_index = faiss.read_index_binary(str(self._part(generation, ".faissbin")))
        with np.load(self._part(generation, ".npz"), allow_pickle=False) as held:
            arrays = {name: held[name] for name in held.files}  # each read once, not per use
        slots, counters, stored_paths = _slots_from(arrays)
        if faiss_index.ntotal != manifest["descriptors"] or len(slots) != manifest["slots"]:
            raise ValueError("its files differ from its manifest")
        ivf = bool(counters[2])
        expected = faiss.IndexBinaryIVF if ivf else faiss.IndexBinaryIDMap
        if not isinstance(faiss_index, expected) or faiss_index.code_size != DESCRIPTOR_BYTES:
            raise ValueError("its FAISS index is not of the kind it says")
        snapshot = IndexSnapshot(faiss_index, slots, int(counters[0]), int(counters[1]), ivf)
        return LoadedIndex(DescriptorIndex.restored(snapshot), stored_paths)

    # --- files ---------------------------------------------------------------------------------
    def _part(self, generation: str, suffix: str) -> Path:
        return self.folder / f"{generation}{suffix}"

    def _drop_other_generations(self, keep: str | None) -> None:
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.name != MANIFEST and (keep is None or not path.name.startswith(keep)):
                path.unlink(missing_ok=True)


def _slot_arrays(snapshot: IndexSnapshot, stored_paths: dict[int, str]) -> dict[str, Any]:
    order = sorted(snapshot.slots)
    images = [snapshot.slots[slot] for slot in order]
    points = [image.points.reshape(-1, 2) for image in images]
    image_ids = sorted(stored_paths)
    return {
        "slot": np.asarray(order, dtype=np.int64),
        "image_id": np.asarray([i.image_id for i in images], dtype=np.int64),
        "talent_id": np.asarray([i.talent_id for i in images], dtype=np.int64),
        "mirrored": np.asarray([i.mirrored for i in images], dtype=bool),
        "size": np.asarray([(i.width, i.height) for i in images], dtype=np.int64).reshape(-1, 2),
        "face_box": np.asarray(
            [NO_BOX if i.face_box is None else i.face_box for i in images], dtype=np.float64
        ).reshape(-1, 4),
        "point_count": np.asarray([len(p) for p in points], dtype=np.int64),
        "points": np.concatenate(points) if points else np.zeros((0, 2), np.float32),
        "counters": np.asarray(
            [snapshot.next_slot, snapshot.built_at, int(snapshot.ivf)], dtype=np.int64
        ),
        "stored_image_id": np.asarray(image_ids, dtype=np.int64),
        "stored_path": np.asarray([stored_paths[i] for i in image_ids], dtype=str),
    }


def _slots_from(
    arrays: dict[str, Any],
) -> tuple[dict[int, IndexedImage], npt.NDArray[np.int64], dict[int, str]]:
    counts = arrays["point_count"]
    ends = np.cumsum(counts)
    points = arrays["points"].astype(np.float32, copy=False)
    if len(points) != (int(ends[-1]) if len(ends) else 0):
        raise ValueError("its points do not add up")
    slots: dict[int, IndexedImage] = {}
    for n, slot in enumerate(arrays["slot"].tolist()):
        box = arrays["face_box"][n].tolist()
        width, height = arrays["size"][n].tolist()
        slots[int(slot)] = IndexedImage(
            int(arrays["image_id"][n]),
            int(arrays["talent_id"][n]),
            bool(arrays["mirrored"][n]),
            points[int(ends[n] - counts[n]) : int(ends[n])],
            int(width),
            int(height),
            _box(box),
        )
    stored = dict(
        zip(arrays["stored_image_id"].tolist(), arrays["stored_path"].tolist(), strict=True)
    )
    return slots, arrays["counters"], {int(k): str(v) for k, v in stored.items()}


def _box(values: list[float]) -> Box | None:
    if any(np.isnan(v) for v in values):
        return None
    x1, y1, x2, y2 = values
    return (float(x1), float(y1), float(x2), float(y2))
