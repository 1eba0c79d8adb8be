"""The one wrapper around qpdf (via pikepdf): assembling, text-layer grafting, encryption.

The scanner's page images are kept as they are; OCR only adds an invisible text layer on top,
as OCRmyPDF does. Archived files are AES-256 (R6) with encrypted metadata.
"""
from __future__ import annotations

import os
from pathlib import Path

import pikepdf

from .store import fsync_dir, fsync_file


class PdfProblem(Exception):
    """A PDF that cannot be used. `code` is stable, the message is safe to show (no content)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def open_source(path: Path) -> pikepdf.Pdf:
    """Open a scanned PDF, telling password-protected, incomplete and broken files apart."""
    try:
        return pikepdf.open(path, attempt_recovery=False)
    except pikepdf.PasswordError:
        raise PdfProblem("encrypted-input", "the PDF is password-protected; scan the paper again without a password") from None
    except pikepdf.PdfError:
        pass
    if not _has_eof_marker(path):
        raise PdfProblem("incomplete-file", "the PDF is incomplete (cut off while it was written or copied); scan the paper again")
    try:
        # Complete but with a damaged cross-reference table, as some scanner software writes: qpdf repairs it.
        return pikepdf.open(path, attempt_recovery=True)
    except pikepdf.PasswordError:
        raise PdfProblem("encrypted-input", "the PDF is password-protected; scan the paper again without a password") from None
    except pikepdf.PdfError:
        raise PdfProblem("unreadable-pdf", "the file is not a readable PDF; scan the paper again") from None


def _has_eof_marker(path: Path) -> bool:
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - 2048))
        return b"%%EOF" in f.read()


def page_pixel_size(page: pikepdf.Page, dpi: int) -> tuple[int, int]:
    """Size of the page rendered at dpi, honouring /UserUnit."""
    box = page.mediabox
    unit = float(page.obj.get("/UserUnit", 1))
    w = abs(float(box[2]) - float(box[0])) * unit / 72 * dpi
    h = abs(float(box[3]) - float(box[1])) * unit / 72 * dpi
    return int(w), int(h)


def largest_image_pixels(page: pikepdf.Page) -> int:
    """Pixel count of the largest image the renderer would have to decode on this page."""
    largest = 0
    seen: set = set()

    def visit(resources, depth: int) -> None:
        nonlocal largest
        xobjects = resources.get("/XObject") if resources is not None else None
        if xobjects is None or depth > 3:
            return
        for _, xobj in xobjects.items():
            key = xobj.objgen
            if key in seen and key != (0, 0):
                continue
            seen.add(key)
            subtype = xobj.get("/Subtype")
            if subtype == "/Image":
                largest = max(largest, int(xobj.get("/Width", 0)) * int(xobj.get("/Height", 0)))
            elif subtype == "/Form":
                visit(xobj.get("/Resources"), depth + 1)

    visit(page.obj.get("/Resources"), 0)
    return largest


# Colour spaces whose pixels Pillow turns into grey exactly as a renderer would.
_PLAIN_COLOURSPACES = {"/DeviceGray", "/DeviceRGB", "/CalGray", "/CalRGB"}


def scan_image(page: pikepdf.Page):
    """The page's pixels straight from its image, when the page is nothing but one scanned image
    drawn upright over the whole page, as scanners and img2pdf write them: (greyscale image,
    dpi). Returns None for anything else (vector content, masks, clipping, CMYK, an image placed
    off the page), which must be rendered instead. Decoding the image costs ~15 ms where
    rasterising the page costs ~160 ms, and the dpi is the scanner's own.
    """
    from PIL import Image

    try:
        if float(page.obj.get("/UserUnit", 1)) != 1 or _box(page.cropbox) != _box(page.mediabox):
            return None
        rotate = int(page.obj.get("/Rotate", 0)) % 360
        xobjects = page.resources.get("/XObject", {})
        if rotate % 90 or len(xobjects) != 1:
            return None
        name, xobj = next(iter(xobjects.items()))
        ctm = _sole_placement(page, name)
        if ctm is None or xobj.get("/Subtype") != "/Image" or not _plain_image(xobj):
            return None
        a, b, c, d, e, f = ctm.shorthand
        x0, y0, x1, y1 = _box(page.mediabox)
        if b or c or a <= 0 or d <= 0 or max(abs(e - x0), abs(f - y0), abs(e + a - x1), abs(f + d - y1)) > 1:
            return None
        image = pikepdf.PdfImage(xobj)
        dpi_x, dpi_y = image.width * 72 / a, image.height * 72 / d
        if abs(dpi_x - dpi_y) > 0.02 * dpi_x:
            return None  # non-square pixels (fax "normal" mode): the renderer evens them out
        pixels = image.as_pil_image()
        pixels.load()  # decode now, inside this try: a damaged stream is left to the renderer
        grey = pixels if pixels.mode == "L" else pixels.convert("L")
        if rotate:  # /Rotate turns the page clockwise
            grey = grey.transpose({90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                                   270: Image.Transpose.ROTATE_90}[rotate])
        return grey, dpi_x
    except Exception:  # noqa: BLE001 - anything unusual is left to the renderer
        return None


def _box(box) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _sole_placement(page: pikepdf.Page, name) -> pikepdf.Matrix | None:
    """The transformation the image is drawn with, if the content draws that image once and does
    nothing else (only save/restore state and set the matrix)."""
    ctm, stack, placed = pikepdf.Matrix(), [], None
    for instruction in pikepdf.parse_content_stream(page):
        op = str(instruction.operator)
        if op == "q":
            stack.append(ctm)
        elif op == "Q":
            ctm = stack.pop() if stack else ctm
        elif op == "cm":
            ctm = pikepdf.Matrix(*[float(v) for v in instruction.operands]) @ ctm
        elif op == "Do" and placed is None and instruction.operands[0] == name:
            placed = ctm
        else:
            return None
    return placed


def _plain_image(xobj) -> bool:
    if any(k in xobj for k in ("/SMask", "/Mask", "/Decode", "/SMaskInData")) or xobj.get("/ImageMask", False):
        return False
    if int(xobj.get("/BitsPerComponent", 0)) not in (1, 8):
        return False
    space = xobj.get("/ColorSpace")
    if isinstance(space, pikepdf.Array) and len(space) == 2 and space[0] == "/ICCBased":
        return int(space[1].get("/N", 0)) in (1, 3)
    if isinstance(space, pikepdf.Array) and len(space) == 2 and str(space[0]) in _PLAIN_COLOURSPACES:
        return True
    return str(space) in _PLAIN_COLOURSPACES


def text_layer_graft(target: pikepdf.Pdf, page_index: int, text_pdf: Path) -> None:
    """Put tesseract's text-only page over the original page, scaled to its box (rotation accounted for)."""
    with pikepdf.open(text_pdf) as text:
        page = target.pages[page_index]
        overlay = target.copy_foreign(text.pages[0].as_form_xobject())
        page.add_overlay(overlay, pikepdf.Rectangle(page.mediabox))


def encrypt_to(pdf: pikepdf.Pdf, path: Path, password: str) -> None:
    """Write an AES-256 (R6) encrypted copy to a temporary name, fsync it, then rename into place."""
    tmp = path.with_name("." + path.name + ".tmp")
    pdf.remove_unreferenced_resources()
    pdf.save(
        tmp,
        encryption=pikepdf.Encryption(owner=password + ":owner", user=password, R=6, aes=True, metadata=True),
        fix_metadata_version=False,
        deterministic_id=False,
    )
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def open_encrypted(path: Path, password: str) -> pikepdf.Pdf:
    return pikepdf.open(path, password=password)


def page_count(path: Path, password: str | None = None) -> int:
    with pikepdf.open(path, password=password or "") as pdf:
        return len(pdf.pages)


def subset(source: pikepdf.Pdf, page_indices: list[int]) -> pikepdf.Pdf:
    """A new PDF holding copies of the given pages (0-based), images untouched."""
    out = pikepdf.new()
    for i in page_indices:
        out.pages.append(source.pages[i])
    return out


def clear_metadata(pdf: pikepdf.Pdf) -> None:
    """Scanner software writes titles and file names into the Info dictionary: drop them."""
    if "/Info" in pdf.trailer:
        del pdf.trailer["/Info"]
    if "/Metadata" in pdf.Root:
        del pdf.Root["/Metadata"]
