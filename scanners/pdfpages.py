"""pikepdf on the reading side: opening scanned PDFs and looking at their pages.

archive/pdf.py is the other side (subsets, text layer, sanitising, encryption); scanners never
import it, so what both need is passed in as paths and pikepdf objects.
"""

from __future__ import annotations

import re
from pathlib import Path

import pikepdf
import pikepdf.settings

from . import imagesize


class PdfProblem(Exception):
    """A PDF that cannot be used. `code` is stable, the message is safe to show (no content)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def open_source(path: Path) -> pikepdf.Pdf:
    """Open a scanned PDF, telling password-protected, incomplete, hostile and broken files apart."""
    limit_errors = pikepdf.settings.qpdf_limit_errors()
    try:
        return pikepdf.open(path, attempt_recovery=False)
    except pikepdf.PasswordError:
        raise PdfProblem(
            "encrypted-input", "the PDF is password-protected; scan the paper again without a password"
        ) from None
    except pikepdf.PdfError:
        pass
    if not _has_eof_marker(path):
        raise PdfProblem(
            "incomplete-file", "the PDF is incomplete (cut off while it was written or copied); scan the paper again"
        )
    try:
        # Complete but with a damaged cross-reference table, as some scanner software writes: qpdf repairs it.
        return pikepdf.open(path, attempt_recovery=True)
    except pikepdf.PasswordError:
        raise PdfProblem(
            "encrypted-input", "the PDF is password-protected; scan the paper again without a password"
        ) from None
    except pikepdf.PdfError as e:
        # A limit qpdf hit while parsing (an object nested beyond it) shows as "no pages found".
        raise _problem(e, pikepdf.settings.qpdf_limit_errors() > limit_errors) from None


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


# Beyond these a PDF is not a scan: qpdf's copier recurses through references (a chain of
# 100,000 arrays crashes it), and a drawing that draws itself never ends.
MAX_DEPTH = 100  # containers within containers, references followed (a scan needs ~15)
MAX_FORM_NESTING = 32  # drawings (form XObjects) drawn inside each other
STRUCTURE = (
    "pdf-structure",
    "the PDF's inner structure loops back on itself or is nested too deeply to "
    "process safely; it is not a plain scan: scan the paper again",
)


def limit_qpdf(max_pixels: int) -> None:
    """qpdf's and pikepdf's own limits, set explicitly (process-wide). Decoded stream data is
    bounded by what the largest allowed image can need (8-bit CMYK), so a Flate bomb stops there."""
    most = max_pixels * 4
    pikepdf.settings.set_qpdf_limits(
        parser_max_nesting=MAX_DEPTH,
        parser_max_errors=15,
        parser_max_container_size=1_000_000,
        max_stream_filters=8,
        flate_max_memory=most,
        png_max_memory=most,
        tiff_max_memory=most,
        run_length_max_memory=most,
        dct_max_memory=most,
        dct_max_progressive_scans=100,
    )
    pikepdf.PdfImage.MAX_IMAGE_PIXELS = max_pixels


def count_pages(pdf: pikepdf.Pdf) -> int:
    try:
        count = len(pdf.pages)
    except pikepdf.PdfError as e:
        raise _problem(e) from None
    _check_warnings(pdf)  # a page qpdf dropped for nesting beyond its limit is not "no pages"
    return count


def _check_warnings(pdf: pikepdf.Pdf) -> None:
    if any("limits error" in w for w in pdf.get_warnings()):
        raise PdfProblem(*STRUCTURE)


def _problem(e: Exception, hit_limit: bool = False) -> PdfProblem:
    """qpdf's verdict as one of ours: its limits and loop checks mean a hostile structure."""
    if hit_limit or "limits error" in str(e) or "Loop detected" in str(e):
        return PdfProblem(*STRUCTURE)
    return PdfProblem("unreadable-pdf", "the file is not a readable PDF; scan the paper again")


class PageCheck:
    """Everything a page makes a renderer or a copier touch, looked at before anything is decoded:
    how deep its objects nest, whether a drawing includes itself, and the real size of every image.
    One per document: objects shared between pages are looked at once."""

    def __init__(self, pdf: pikepdf.Pdf):
        self.pdf = pdf
        self.seen: set[tuple[int, int]] = set()
        self.forms_done: set[tuple[int, int]] = set()

    def largest_image(self, page: pikepdf.Page) -> int:
        """Pixels of the largest image on the page, from the images' own headers. Raises
        PdfProblem (pdf-structure) for a hostile structure."""
        try:
            largest = max(self._walk(page.obj), self._drawings(page.obj))
        except PdfProblem:
            raise
        except (pikepdf.PdfError, ValueError, TypeError, ArithmeticError) as e:  # nonsense where numbers belong
            raise _problem(e) from None
        _check_warnings(self.pdf)
        return largest

    def _walk(self, start: pikepdf.Dictionary) -> int:
        """Depth-first over all the page reaches, as qpdf's copier goes: not up to the page tree and
        not into other pages. Iterative, so depth is counted, never recursed."""
        largest = 0
        home = start.objgen
        stack: list[tuple[pikepdf.Object, int]] = [(start, 0)]
        while stack:
            obj, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise PdfProblem(*STRUCTURE)
            if obj.is_indirect:
                if obj.objgen in self.seen:
                    continue
                self.seen.add(obj.objgen)
            if isinstance(obj, pikepdf.Stream):
                if obj.get("/Subtype") == "/Image":
                    largest = max(largest, image_pixels(obj, self.pdf))
                items = obj.stream_dict.items()
            elif isinstance(obj, pikepdf.Dictionary):
                if obj.get("/Type") == "/Page" and obj.objgen != home:
                    continue
                items = obj.items()
            elif isinstance(obj, pikepdf.Array):
                items = enumerate(obj)
            else:
                continue
            for key, value in items:
                if key == "/Parent" and obj.objgen == home:
                    continue
                if isinstance(value, (pikepdf.Dictionary, pikepdf.Array, pikepdf.Stream)):
                    stack.append((value, depth + 1))
        return largest

    def _drawings(self, page: pikepdf.Dictionary) -> int:
        """Follow the drawings the page really draws (`Do`), each inside the other: one that draws
        itself, or nesting beyond MAX_FORM_NESTING, is a hostile structure. Returns the largest
        inline image found in the content on the way."""
        resources = page.get("/Resources")
        forms, largest = self._uses(_content_bytes(page.get("/Contents")), resources)
        stack = [iter(forms)]
        path: list[tuple[int, int]] = []
        while stack:
            form, inherited = next(stack[-1], (None, None))
            if form is None:
                stack.pop()
                if path:
                    self.forms_done.add(path.pop())
                continue
            key = form.objgen
            if key in path:
                raise PdfProblem(*STRUCTURE)
            if key in self.forms_done:
                continue
            if len(path) >= MAX_FORM_NESTING:
                raise PdfProblem(*STRUCTURE)
            path.append(key)
            # A form without resources draws with its caller's (PDF 1.1).
            own = form.get("/Resources", inherited)
            inner, inline = self._uses(form.read_bytes(), own)
            largest = max(largest, inline)
            stack.append(iter(inner))
        return largest

    def _uses(self, content: bytes, resources) -> tuple[list, int]:
        """The form XObjects a content stream draws (with the resources they inherit) and the
        largest inline image in it."""
        forms = []
        xobjects = resources.get("/XObject") if isinstance(resources, pikepdf.Dictionary) else None
        if xobjects is not None:
            for name in dict.fromkeys(_DO.findall(content)):
                xobj = xobjects.get("/" + _unescape(name))
                if isinstance(xobj, pikepdf.Stream) and xobj.get("/Subtype") == "/Form" and xobj.is_indirect:
                    forms.append((xobj, resources))
        largest = 0
        if _INLINE.search(content):
            for instruction in pikepdf.parse_content_stream(pikepdf.Stream(self.pdf, content)):
                if isinstance(instruction, pikepdf.ContentStreamInlineImage):
                    image = instruction.iimage
                    largest = max(
                        largest,
                        _real_pixels(
                            image.width, image.height, image.filters, image.decode_parms, image.read_raw_bytes
                        ),
                    )
        return forms, largest


_DO = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s*Do(?![^\s/\[\]()<>{}%])")
_INLINE = re.compile(rb"(?:^|\s)BI\s")


def _unescape(name: bytes) -> str:
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), name).decode("latin-1")


def _content_bytes(contents) -> bytes:
    if isinstance(contents, pikepdf.Stream):
        return contents.read_bytes()
    if isinstance(contents, pikepdf.Array):
        return b"\n".join(c.read_bytes() for c in contents if isinstance(c, pikepdf.Stream))
    return b""


def image_pixels(xobj: pikepdf.Stream, pdf: pikepdf.Pdf) -> int:
    """Pixels a decoder allocates for this image XObject (of `pdf`)."""
    filters = xobj.get("/Filter", [])
    filters = [str(f) for f in (filters if isinstance(filters, pikepdf.Array) else [filters])]
    parms = xobj.get("/DecodeParms", [])
    parms = list(parms) if isinstance(parms, pikepdf.Array) else [parms] * len(filters)
    return _real_pixels(
        _int(xobj.get("/Width")),
        _int(xobj.get("/Height")),
        filters,
        parms,
        lambda: _encoded_image(xobj, pdf, filters, parms),
        jbig2_globals=_jbig2_globals(parms),
    )


def _int(value) -> int:
    """A size from a dictionary; anything but a non-negative number counts as 0."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError, ArithmeticError):
        return 0


def _real_pixels(width: int, height: int, filters: list, parms: list, encoded, jbig2_globals: bytes = b"") -> int:
    """Formats with a header of their own (JPEG, JPEG 2000, JBIG2) are measured by it; CCITT fax data
    by the larger of its parameters and the dictionary; raw and Flate pixels by the dictionary,
    which is exactly what the decoder reads (qpdf's limits bound a Flate stream's decoded size)."""
    last = str(filters[-1]) if filters else None
    size = None
    if last == "/DCTDecode":
        size = imagesize.jpeg_size(encoded())
    elif last == "/JPXDecode":
        size = imagesize.jpx_size(encoded())
    elif last == "/JBIG2Decode":
        size = imagesize.jbig2_size(encoded(), jbig2_globals)
    elif last == "/CCITTFaxDecode":
        p = parms[-1] if parms and isinstance(parms[-1], pikepdf.Dictionary) else {}
        size = max(width, _int(p.get("/Columns", 1728))), max(height, _int(p.get("/Rows", 0)))
    w, h = size if size else (width, height)
    return max(w * h, width * height)


def _encoded_image(xobj: pikepdf.Stream, pdf: pikepdf.Pdf, filters: list[str], parms: list) -> bytes:
    """The image's data in its own format: the stream's data with the general filters in front of
    the image filter (Flate, ASCII85...) undone, within qpdf's memory limits."""
    if len(filters) <= 1:
        return xobj.read_raw_bytes()
    outer = pikepdf.Stream(pdf, xobj.read_raw_bytes())  # unreferenced: never saved
    outer.Filter = pikepdf.Array([pikepdf.Name(f) for f in filters[:-1]])
    outer.DecodeParms = pikepdf.Array([p if isinstance(p, pikepdf.Dictionary) else None for p in parms[:-1]])
    return outer.read_bytes()


def _jbig2_globals(parms: list) -> bytes:
    p = parms[-1] if parms else None
    if isinstance(p, pikepdf.Dictionary) and isinstance(p.get("/JBIG2Globals"), pikepdf.Stream):
        return p.JBIG2Globals.read_bytes()
    return b""


# Colour spaces whose pixels Pillow turns into grey exactly as a renderer would.
_PLAIN_COLOURSPACES = {"/DeviceGray", "/DeviceRGB", "/CalGray", "/CalRGB"}


class Undecodable(Exception):
    """An image on the page whose data cannot be decoded (damaged, cut off), or that unpacks to
    more than any page needs (`too_large`). A renderer draws such an image as nothing, and a page
    drawn as nothing looks blank: the page must hold the scan instead."""

    def __init__(self, too_large: bool):
        super().__init__("image beyond the limits" if too_large else "image data damaged")
        self.too_large = too_large


# Images pikepdf does not decode itself (JBIG2 without jbig2dec, unusual colour spaces): the
# renderer decodes those, and says so when it cannot.
_NOT_OURS = (
    pikepdf.models.image.UnsupportedImageTypeError,
    pikepdf.models.image.NotExtractableError,
    pikepdf.models.image.InvalidPdfImageError,
    pikepdf.DependencyError,
    NotImplementedError,
)


def decode_image(xobj: pikepdf.Stream):
    """The image's pixels, decoded now (a PIL image); None when the renderer must decode it.
    Raises Undecodable."""
    from PIL import Image

    try:
        pixels = pikepdf.PdfImage(xobj).as_pil_image()
        pixels.load()  # JPEG decodes lazily: a cut-off stream fails here, not later
        return pixels
    except _NOT_OURS:
        return None
    except (pikepdf.models.image.DecompressionBombError, Image.DecompressionBombError):
        raise Undecodable(too_large=True) from None
    except Exception as e:  # noqa: BLE001 - any decoder error means the data is damaged
        # qpdf stops a Flate stream that unpacks beyond its memory limit (a Flate bomb).
        raise Undecodable(too_large="limit exceeded" in str(e) or "limits error" in str(e)) from None


def check_images(page: pikepdf.Page) -> None:
    """Decode every image the page draws, through its form XObjects (raises Undecodable); for
    pages the renderer draws, which shows a damaged image as nothing and says nothing."""
    seen: set[tuple[int, int]] = set()
    pending = [page.obj.get("/Resources")]
    while pending:
        resources = pending.pop()
        xobjects = resources.get("/XObject") if isinstance(resources, pikepdf.Dictionary) else None
        if not isinstance(xobjects, pikepdf.Dictionary):
            continue
        for _, xobj in xobjects.items():
            if not isinstance(xobj, pikepdf.Stream) or xobj.objgen in seen:
                continue
            seen.add(xobj.objgen)
            if xobj.get("/Subtype") == "/Image":
                pixels = decode_image(xobj)
                if pixels is not None:
                    pixels.close()
            elif xobj.get("/Subtype") == "/Form":
                pending.append(xobj.get("/Resources"))


def scan_image(page: pikepdf.Page):
    """The page's pixels straight from its image, when the page is nothing but one scanned image
    drawn upright over the whole page, as scanners and img2pdf write them: (greyscale image,
    dpi). Returns None for anything else (vector content, masks, clipping, CMYK, an image placed
    off the page), which must be rendered instead; raises Undecodable when the image is damaged.
    Decoding the image costs ~15 ms where rasterising the page costs ~160 ms, and the dpi is the
    scanner's own.
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
        dpi_x, dpi_y = int(xobj.Width) * 72 / a, int(xobj.Height) * 72 / d
        if abs(dpi_x - dpi_y) > 0.02 * dpi_x:
            return None  # non-square pixels (fax "normal" mode): the renderer evens them out
    except Exception:  # noqa: BLE001 - anything unusual is left to the renderer
        return None
    pixels = decode_image(xobj)
    if pixels is None:
        return None
    grey = pixels if pixels.mode == "L" else pixels.convert("L")
    if rotate:  # /Rotate turns the page clockwise
        grey = grey.transpose(
            {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}[rotate]
        )
    return grey, dpi_x


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
