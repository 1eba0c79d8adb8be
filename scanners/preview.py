"""Previews of a received file for people working the quarantine: one page, scaled, as JPEG bytes.

A PDF page goes through poppler over pipes (bounded in time and memory); an image (TIFF, PNG,
JPEG) is opened by Pillow under the same pixel limit as intake. Everything stays in memory.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from . import poppler
from .poppler import RenderFailed

MAX_PIXELS = 60_000_000  # as intake's default page limit: beyond it there is no preview


def page_jpeg(data: bytes, kind: str, page: int, *, width: int) -> bytes:
    if kind == "pdf":
        return poppler.render_jpeg(data, page, width=width)
    if kind == "image":
        return _image_page(data, page, width)
    raise RenderFailed(f"no preview for {kind}")


def _image_page(data: bytes, page: int, width: int) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise RenderFailed("image too large")
            img.seek(page - 1)  # multi-page TIFF
            shown = ImageOps.exif_transpose(img.convert("L"))
            shown.thumbnail((width, width * 2))
            out = io.BytesIO()
            shown.save(out, "JPEG", quality=85)
            return out.getvalue()
    except (OSError, EOFError, ValueError, Image.DecompressionBombError) as e:
        raise RenderFailed(type(e).__name__) from None
