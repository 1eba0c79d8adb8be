"""Getting pages in: every input (PDF, multi-page TIFF, PNG, JPEG) becomes one PDF whose pages
are the scanner's images untouched, then pages are rendered one at a time for reading.

Inputs that cannot be used raise SourceProblem with a stable code and a message for people.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import os
import threading
from typing import Callable, Iterator, TypeVar

import img2pdf
import pikepdf
from PIL import Image, ImageSequence, UnidentifiedImageError

from archive import pdf as pdfwrap  # the qpdf wrapper; archive is the lower layer

from .poppler import RenderFailed, render_page

T = TypeVar("T")
IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}


class SourceProblem(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    dpi: int = 300
    max_megapixels: float = 60.0

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)


def sniff(path: Path) -> str:
    """'pdf' or 'image' by content, not by name (scanner names are unreliable)."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head:
        raise SourceProblem("empty-file", "the file is empty (0 bytes); scan the paper again")
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith((b"II*\x00", b"MM\x00*", b"\x89PNG", b"\xff\xd8\xff")):
        return "image"
    raise SourceProblem("unsupported-format", "the file is not a PDF, TIFF, PNG or JPEG; save the scan in one of those formats")


def normalise_to_pdf(source: Path, target: Path, limits: Limits) -> int:
    """Write `target` as a PDF of the source's pages, checking every page. Returns the page count."""
    kind = sniff(source)
    try:
        if kind == "image":
            _image_to_pdf(source, target, limits)
        else:
            with pdfwrap.open_source(source) as src:
                src.save(target)
        with pikepdf.open(target) as doc:
            count = len(doc.pages)
            if count == 0:
                raise SourceProblem("no-pages", "the PDF has no pages; scan the paper again")
            for n, page in enumerate(doc.pages, start=1):
                _check_page_size(page, n, limits)
    except pdfwrap.PdfProblem as e:
        raise SourceProblem(e.code, str(e)) from None
    return count


def _check_page_size(page: pikepdf.Page, n: int, limits: Limits) -> None:
    w, h = pdfwrap.page_pixel_size(page, limits.dpi)
    if w * h > limits.max_pixels:
        raise SourceProblem("page-too-large",
                            f"page {n} is too large to process ({w * h / 1e6:.0f} megapixels at {limits.dpi} dpi, "
                            f"limit {limits.max_megapixels:.0f}); scan it at A4 or letter size")
    biggest = pdfwrap.largest_image_pixels(page)
    if biggest > limits.max_pixels:
        raise SourceProblem("image-too-large",
                            f"page {n} holds an image too large to process ({biggest / 1e6:.0f} megapixels, "
                            f"limit {limits.max_megapixels:.0f}); scan it again at 300 dpi")


def _image_to_pdf(source: Path, target: Path, limits: Limits) -> None:
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with Image.open(source) as im:
            for n, frame in enumerate(ImageSequence.Iterator(im), start=1):
                if frame.width * frame.height > limits.max_pixels:
                    raise SourceProblem("image-too-large", f"page {n} is too large to process; scan it again at 300 dpi")
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            dpi = None if _has_resolution(im) else _a4_width_dpi(im.width)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError):
        raise SourceProblem("unreadable-image", "the image file is damaged or incomplete; scan the paper again") from None
    try:
        if has_alpha:
            raise ValueError("alpha")
        # img2pdf embeds JPEG and CCITT data as they are, and PNG/TIFF pixels losslessly.
        layout = {"layout_fun": img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))} if dpi else {}
        data = img2pdf.convert(str(source), rotation=img2pdf.Rotation.ifvalid, **layout)
    except Exception:
        data = _flatten_to_pdf(source, dpi)
    target.write_bytes(data)


def _has_resolution(im: Image.Image) -> bool:
    """True when the file says how large a pixel is (TIFF resolution unit 'none' does not)."""
    if hasattr(im, "tag_v2") and im.tag_v2.get(296) == 1:
        return False
    dpi = im.info.get("dpi")
    return bool(dpi) and min(dpi) >= 50


def _a4_width_dpi(width_px: int) -> float:
    # Without a resolution, assume the page is as wide as A4 portrait (8.27 in), as scanners make them.
    return min(1200.0, max(72.0, width_px / 8.27))


def _flatten_to_pdf(source: Path, dpi: float | None) -> bytes:
    """Images img2pdf refuses (alpha channels): flatten each frame onto white, losslessly."""
    import io

    out = io.BytesIO()
    frames = []
    try:
        with Image.open(source) as im:
            resolution = dpi or float(im.info.get("dpi", (300, 300))[0])
            for frame in ImageSequence.Iterator(im):
                rgba = frame.convert("RGBA")
                white = Image.new("RGB", rgba.size, "white")
                white.paste(rgba, mask=rgba.getchannel("A"))
                frames.append(white)
            frames[0].save(out, "PDF", save_all=True, append_images=frames[1:], resolution=resolution)
    except (OSError, SyntaxError, ValueError):
        raise SourceProblem("unreadable-image", "the image file is damaged or incomplete; scan the paper again") from None
    return out.getvalue()


def render(pdf_path: Path, page_number: int, limits: Limits) -> Image.Image:
    """One page as a greyscale image near the working resolution; its dpi is in `image.info["dpi"]`.

    A page that is just the scanner's image is decoded directly (no rasterising); anything else is
    rendered by poppler."""
    found = _decoded(pdf_path, page_number)
    if found is not None:
        image, dpi = _near_working_dpi(*found, limits.dpi)
    else:
        try:
            image, dpi = render_page(pdf_path, page_number, limits.dpi), limits.dpi
        except RenderFailed:
            raise SourceProblem("unrenderable-page", f"page {page_number} could not be read; scan the paper again") from None
    image.info["dpi"] = (dpi, dpi)
    return image


def _decoded(pdf_path: Path, page_number: int) -> tuple[Image.Image, float] | None:
    try:
        with pikepdf.open(pdf_path) as doc:
            return pdfwrap.scan_image(doc.pages[page_number - 1])
    except Exception:  # noqa: BLE001 - the renderer gets its chance and reports properly
        return None


def _near_working_dpi(image: Image.Image, dpi: float, working: int) -> tuple[Image.Image, int]:
    """Scans within 5 % of the working dpi stay as they are; others are scaled to it, as the
    renderer would: OCR and the barcode ladder are tuned for it, and 600 dpi costs 4x the OCR time."""
    if abs(dpi - working) <= 0.05 * working:
        return image, round(dpi)
    factor = int(dpi // working)
    if factor >= 2:  # box averaging first: fast, and it keeps thin strokes
        image, dpi = image.reduce(factor), dpi / factor
    if abs(dpi - working) > 0.05 * working:
        size = (max(1, round(image.width * working / dpi)), max(1, round(image.height * working / dpi)))
        image, dpi = image.resize(size, Image.Resampling.LANCZOS), working
    return image, round(dpi)


def read_ahead(pdf_path: Path, count: int, limits: Limits, inspect: Callable[[Image.Image], T], *,
               workers: int = 2, ahead: int = 3) -> Iterator[tuple[int, Image.Image, T]]:
    """(1-based number, greyscale image, `inspect(image)`) one page at a time, rendering and
    inspecting a few pages ahead on worker threads so OCR never waits for the next page. Pages come out in order and at
    most `ahead` rendered pages exist at once, so memory stays flat. The workers run at a lower
    CPU priority: when both cores are busy, tesseract goes first."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def work(n: int):
        image = render(pdf_path, n, limits)
        return n, image, inspect(image)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reader", initializer=_lower_priority) as pool:
        pending: deque = deque()
        next_page = 1
        try:
            while pending or next_page <= count:
                while next_page <= count and len(pending) < ahead:
                    pending.append(pool.submit(work, next_page))
                    next_page += 1
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


def _lower_priority() -> None:
    try:  # per thread on Linux; the pdftoppm it starts inherits it
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
    except (OSError, AttributeError):
        pass


def opens(path: Path) -> bool:
    """The settle rule's last check: does the file parse yet (a PDF trailer, an image header)?"""
    try:
        kind = sniff(path)
    except (SourceProblem, OSError):
        return False
    try:
        if kind == "pdf":
            with pikepdf.open(path, attempt_recovery=False):
                return True
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # noqa: BLE001 - any parse failure means "not (yet) readable"
        return False
