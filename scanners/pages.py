"""Getting pages in: every input (PDF, multi-page TIFF, PNG, JPEG) becomes one PDF whose pages
are the scanner's images untouched, then pages are rendered one at a time for reading.

Inputs that cannot be used raise SourceProblem with a stable code and a message for people.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import img2pdf
import pikepdf
from PIL import Image, ImageFile, ImageSequence, UnidentifiedImageError

from . import pdfpages
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
    max_pages: int = 1000  # per scan; a 10,000-page file is refused, not read for hours

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)


_applied: Limits | None = None
_applied_lock = threading.Lock()


def apply_library_limits(limits: Limits) -> None:
    """Set the libraries' own limits explicitly (they are process-wide): Pillow refuses images
    over the pixel limit at open (DecompressionBombError) and never pads a cut-off image; qpdf's
    limits bound nesting, filters and decoded sizes. Poppler has none: the images' own headers are
    checked before it sees a page (pdfpages.PageCheck)."""
    global _applied
    with _applied_lock:
        if _applied == limits:
            return
        Image.MAX_IMAGE_PIXELS = limits.max_pixels
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        pdfpages.limit_qpdf(limits.max_pixels)
        _applied = limits


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
    raise SourceProblem(
        "unsupported-format", "the file is not a PDF, TIFF, PNG or JPEG; save the scan in one of those formats"
    )


def normalise_to_pdf(source: Path, target: Path, limits: Limits) -> int:
    """Write `target` as a PDF of the source's pages, checking every page before anything is
    decoded: the page count, the structure, the page sizes and the real size of every image.
    Returns the page count."""
    apply_library_limits(limits)
    kind = sniff(source)
    try:
        if kind == "image":
            _image_to_pdf(source, target, limits)
        with pdfpages.open_source(source if kind == "pdf" else target) as doc:
            count = pdfpages.count_pages(doc)
            if count == 0:
                raise SourceProblem("no-pages", "the PDF has no pages; scan the paper again")
            _check_page_count(count, limits)
            check = pdfpages.PageCheck(doc)
            for n, page in enumerate(doc.pages, start=1):
                _check_page(check, page, n, limits)
            if kind == "pdf":
                doc.save(target)
    except pdfpages.PdfProblem as e:
        raise SourceProblem(e.code, str(e)) from None
    return count


def _check_page_count(count: int, limits: Limits) -> None:
    if count > limits.max_pages:
        raise SourceProblem(
            "too-many-pages",
            f"the scan has {count} pages, more than the limit of {limits.max_pages} "
            "a scan; split the stack and scan it in parts",
        )


def _check_page(check: pdfpages.PageCheck, page: pikepdf.Page, n: int, limits: Limits) -> None:
    w, h = pdfpages.page_pixel_size(page, limits.dpi)
    if w * h > limits.max_pixels:
        raise SourceProblem(
            "page-too-large",
            f"page {n} is too large to process ({w * h / 1e6:.0f} megapixels at {limits.dpi} dpi, "
            f"limit {limits.max_megapixels:.0f}); scan it at A4 or letter size",
        )
    biggest = check.largest_image(page)
    if biggest > limits.max_pixels:
        raise _image_too_large(n, biggest, limits)


def _image_too_large(n: int, pixels: int | None, limits: Limits) -> SourceProblem:
    size = f"{pixels / 1e6:.0f} megapixels, " if pixels else ""
    return SourceProblem(
        "image-too-large",
        f"page {n} holds an image too large to process ({size}limit "
        f"{limits.max_megapixels:.0f}); scan it again at 300 dpi",
    )


def _image_to_pdf(source: Path, target: Path, limits: Limits) -> None:
    n = 1
    try:
        # Only headers are read here: Pillow checks the first frame's size at open, the loop
        # every other frame's (a seek reads a frame's header, not its pixels).
        with Image.open(source) as im:
            for n, frame in enumerate(ImageSequence.Iterator(im), start=1):
                if n > limits.max_pages:
                    _check_page_count(getattr(im, "n_frames", n), limits)
                if frame.width * frame.height > limits.max_pixels:
                    raise _image_too_large(n, frame.width * frame.height, limits)
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            dpi = None if _has_resolution(im) else _a4_width_dpi(im.width)
    except Image.DecompressionBombError:
        raise _image_too_large(n, None, limits) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise SourceProblem(
            "unreadable-image", "the image file is damaged or incomplete; scan the paper again"
        ) from None
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
        raise SourceProblem(
            "unreadable-image", "the image file is damaged or incomplete; scan the paper again"
        ) from None
    return out.getvalue()


def render(pdf_path: Path, page_number: int, limits: Limits) -> Image.Image:
    """One page as a greyscale image near the working resolution; its dpi is in `image.info["dpi"]`.

    A page that is just the scanner's image is decoded directly (no rasterising); anything else is
    rendered by poppler."""
    try:
        found = _decoded(pdf_path, page_number)
    except pdfpages.Undecodable as e:
        raise (_image_too_large(page_number, None, limits) if e.too_large else _unreadable(page_number)) from None
    if found is not None:
        image, dpi = _near_working_dpi(*found, limits.dpi)
    else:
        try:
            image, dpi = render_page(pdf_path, page_number, limits.dpi), limits.dpi
        except RenderFailed:
            raise _unreadable(page_number) from None
    image.info["dpi"] = (dpi, dpi)
    return image


def _unreadable(page_number: int) -> SourceProblem:
    return SourceProblem(
        "unreadable-page",
        f"page {page_number} could not be decoded (damaged or cut-off data), so "
        "nothing from this scan was filed; scan the paper again",
    )


def _decoded(pdf_path: Path, page_number: int) -> tuple[Image.Image, float] | None:
    """The scanner's image of a page that is just that; None for pages the renderer must draw,
    whose images are decoded once here all the same (the renderer draws a damaged one as nothing,
    silently). Raises pdfpages.Undecodable."""
    try:
        doc = pikepdf.open(pdf_path)
    except Exception:  # noqa: BLE001 - the renderer gets its chance and reports properly
        return None
    with doc:
        page = doc.pages[page_number - 1]
        found = pdfpages.scan_image(page)
        if found is None:
            pdfpages.check_images(page)
        return found


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


def read_ahead(
    pdf_path: Path, count: int, limits: Limits, inspect: Callable[[Image.Image], T], *, workers: int = 2, ahead: int = 3
) -> Iterator[tuple[int, Image.Image, T]]:
    """(1-based number, greyscale image, `inspect(image)`) one page at a time, rendering and
    inspecting a few pages ahead on worker threads so OCR never waits for the next page. Pages come out in order and at
    most `ahead` rendered pages exist at once, so memory stays flat. The workers run at a lower
    CPU priority: when both cores are busy, tesseract goes first."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    apply_library_limits(limits)  # also when pages are read without normalise_to_pdf in this process

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
    """The settle rule's last check: does the file parse yet (a PDF trailer, an image header)?
    Only a regular file is opened, without following a link and without blocking (a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        f = os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return False
    with f:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            head = f.read(1024)
            f.seek(0)
            if b"%PDF-" in head:
                with pikepdf.open(f, attempt_recovery=False):
                    return True
            if not head.startswith((b"II*\x00", b"MM\x00*", b"\x89PNG", b"\xff\xd8\xff")):
                return False
            with Image.open(f) as im:
                im.verify()
            return True
        except Image.DecompressionBombError:
            return True  # complete, only too large: the scan refuses it with its reason
        except Exception:  # noqa: BLE001 - any parse failure means "not (yet) readable"
            return False
