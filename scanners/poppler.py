"""The one wrapper around poppler (pdftoppm through pdf2image): one page at a time."""
from __future__ import annotations

from pathlib import Path

from PIL import Image
from pdf2image import convert_from_path
from pdf2image.exceptions import PDFPageCountError, PDFSyntaxError


class RenderFailed(Exception):
    pass


def render_page(pdf_path: Path, page_number: int, dpi: int, timeout: int = 120) -> Image.Image:
    """Rasterise one page (1-based) in greyscale. Only this page is ever in memory."""
    try:
        images = convert_from_path(pdf_path, dpi=dpi, first_page=page_number, last_page=page_number,
                                   grayscale=True, timeout=timeout)
    except (PDFPageCountError, PDFSyntaxError, OSError, ValueError) as e:
        raise RenderFailed(type(e).__name__) from None
    if not images:
        raise RenderFailed("no image")
    return images[0]
