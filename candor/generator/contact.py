"""Contact sheets: many frames tiled into one labelled image, for looking at renders side by side."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from candor.errors import InvalidInput
from candor.files import atomic_write_bytes

_LABEL_H = 22


def contact_sheet(
    frames: list[np.ndarray], labels: list[str] | None = None, columns: int = 4, tile: int = 256
) -> np.ndarray:
    """Tile RGB uint8 frames (any size, each resized to ``tile`` x ``tile`` px) into a grid.

    ``labels`` (one per frame) are printed in a strip under each tile. Returns (H, W, 3) uint8 RGB.
    """
    if not frames:
        raise InvalidInput("contact sheet needs at least one frame")
    if labels is not None and len(labels) != len(frames):
        raise InvalidInput(f"{len(labels)} labels for {len(frames)} frames")
    if columns < 1 or tile < 16:
        raise InvalidInput("contact sheet needs columns >= 1 and tile >= 16 px")
    columns = min(columns, len(frames))
    rows = -(-len(frames) // columns)
    label_h = _LABEL_H if labels is not None else 0
    sheet = np.full((rows * (tile + label_h), columns * tile, 3), 255, np.uint8)
    for k, frame in enumerate(frames):
        img = np.asarray(frame)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise InvalidInput(f"frame {k} has shape {img.shape}; expected (H, W, 3) RGB")
        img = img.astype(np.uint8) if img.dtype != np.uint8 else img
        interp = cv2.INTER_AREA if img.shape[0] > tile else cv2.INTER_LINEAR
        r, c = divmod(k, columns)
        y, x = r * (tile + label_h), c * tile
        sheet[y : y + tile, x : x + tile] = cv2.resize(img, (tile, tile), interpolation=interp)
        if labels is not None:
            cv2.putText(
                sheet, labels[k][:40], (x + 4, y + tile + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA,
            )  # fmt: skip
    return sheet


def save_contact_sheet(
    path: str | Path,
    frames: list[np.ndarray],
    labels: list[str] | None = None,
    columns: int = 4,
    tile: int = 256,
) -> Path:
    """Write :func:`contact_sheet` as a PNG at ``path`` (atomically, see ``candor.files``)."""
    path = Path(path)
    sheet = contact_sheet(frames, labels, columns=columns, tile=tile)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InvalidInput(f"could not encode a contact sheet for {path}")
    atomic_write_bytes(path, buf.tobytes())
    return path
