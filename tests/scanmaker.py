"""Test-data generator: realistic scanned pages and scan batches, deterministic given a seed.

Pages are greyscale ("L") PIL images at 300 dpi unless stated. Every function that adds randomness takes a
``seed``; the same arguments give byte-identical pixels (for a given Pillow/FreeType build).

Typical use::

    lines = dutch_lines(250, seed=3, marker="DOS-4711")
    front = office_quality(text_page(lines, seed=3), seed=3)
    write_pdf(tmp_path / "batch.pdf", duplex([front], seed=3))

Each page image carries its resolution in ``img.info["dpi"]``; the writers use it when no ``dpi`` is passed,
so a page from ``resample_dpi(..., 300, 200)`` or ``fax(...)`` still comes out as an A4 page.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 300
A4_MM = (210.0, 297.0)
FAX_DPI = (204, 196)  # ITU-T T.4 "fine" resolution, horizontal x vertical
MARGIN_CM = 2.5
LINE_SPACING = 1.25  # baseline-to-baseline distance as a multiple of the font size

DpiLike = int | float | tuple
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSerif.ttf"}

__all__ = [
    "DPI",
    "FAX_DPI",
    "a4_size",
    "text_page",
    "text_pages",
    "dutch_lines",
    "blank_page",
    "pdf_page_image",
    "rotate",
    "add_noise",
    "jpeg",
    "resample_dpi",
    "fax",
    "office_quality",
    "duplex",
    "write_pdf",
    "write_tiff",
    "write_image",
    "words_of",
    "word_recall",
    "ocr_text",
]


# --------------------------------------------------------------------------------------------------
# helpers


def a4_size(dpi: DpiLike = DPI) -> tuple[int, int]:
    """Pixel size (width, height) of an A4 page at ``dpi`` (an int or an (x, y) pair)."""
    dx, dy = _dpi_pair(dpi)
    return round(A4_MM[0] / 25.4 * dx), round(A4_MM[1] / 25.4 * dy)


def _dpi_pair(dpi: DpiLike) -> tuple[float, float]:
    if isinstance(dpi, (tuple, list)):
        return float(dpi[0]), float(dpi[1])
    return float(dpi), float(dpi)


def _img_dpi(img: Image.Image, default: DpiLike = DPI) -> tuple[float, float]:
    d = img.info.get("dpi")
    if d:
        try:
            x, y = float(d[0]), float(d[1])
            if x > 1 and y > 1:
                return x, y
        except (TypeError, ValueError, IndexError):
            pass
    return _dpi_pair(default)


def _tag(img: Image.Image, dpi: DpiLike) -> Image.Image:
    """Record the resolution on the image (``img.info["dpi"]``) and return it."""
    x, y = _dpi_pair(dpi)
    img.info["dpi"] = (int(x) if x == int(x) else x, int(y) if y == int(y) else y)
    return img


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


@lru_cache(maxsize=32)
def _font(size_px: int, serif: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_DIR / _FONT_FILES[serif]
    if not path.exists():  # fonts-dejavu-core always has DejaVuSans; fall back to whatever Pillow finds
        try:
            return ImageFont.truetype(_FONT_FILES[serif], size_px)
        except OSError:
            return ImageFont.load_default(size_px)
    return ImageFont.truetype(str(path), size_px)


def _as_l(img: Image.Image) -> Image.Image:
    return img if img.mode == "L" else img.convert("L")


# --------------------------------------------------------------------------------------------------
# pages


def _wrap(text: str, font, width: int) -> list[str]:
    words = text.split()
    if not words:
        return [""]
    out: list[str] = []
    cur = words[0]
    for w in words[1:]:
        cand = cur + " " + w
        if font.getlength(cand) <= width:
            cur = cand
        else:
            out.append(cur)
            cur = w
    out.append(cur)
    return out


def _layout(lines: Sequence[str], dpi: int, font_size_pt: float, serif: bool):
    size_px = max(6, round(font_size_pt * dpi / 72))
    font = _font(size_px, serif)
    w, h = a4_size(dpi)
    margin = round(MARGIN_CM / 2.54 * dpi)
    line_h = round(size_px * LINE_SPACING)
    para_gap = round(line_h * 0.4)
    rows: list[tuple[int, str]] = []  # (y offset from top margin, text)
    y = 0
    for para in lines:
        for row in _wrap(para, font, w - 2 * margin):
            rows.append((y, row))
            y += line_h
        y += para_gap
    return font, (w, h), margin, line_h, rows


def text_page(
    lines: list[str], dpi: int = 300, font_size_pt: float = 11, seed: int = 0, *, serif: bool = False, ink: int = 0
) -> Image.Image:
    """An A4 greyscale page at ``dpi`` with ``lines`` typeset in DejaVu Sans (``serif=True``: DejaVu Serif).

    Each item of ``lines`` is a paragraph: it is wrapped to the text width (2.5 cm margins) and starts on a
    new line; an empty string is an empty line. Line spacing is 1.25 x the font size, with a little extra
    space between paragraphs. ``seed`` shifts the text block by up to ~1 mm (the sheet as printed).
    Raises ValueError when the text does not fit on one page (use :func:`text_pages`).
    """
    font, (w, h), margin, line_h, rows = _layout(lines, dpi, font_size_pt, serif)
    if rows and rows[-1][0] + line_h > h - 2 * margin:
        raise ValueError(f"text does not fit on one A4 page ({len(rows)} lines); use text_pages()")
    return _render(rows, font, (w, h), margin, dpi, seed, ink)


def text_pages(
    lines: list[str], dpi: int = 300, font_size_pt: float = 11, seed: int = 0, *, serif: bool = False, ink: int = 0
) -> list[Image.Image]:
    """Like :func:`text_page`, but flows the text over as many A4 pages as needed (page i gets seed+i)."""
    font, (w, h), margin, line_h, rows = _layout(lines, dpi, font_size_pt, serif)
    usable = h - 2 * margin
    pages: list[list[tuple[int, str]]] = [[]]
    base = 0
    for y, text in rows:
        if y - base + line_h > usable and pages[-1]:
            pages.append([])
            base = y
        pages[-1].append((y - base, text))
    return [_render(p, font, (w, h), margin, dpi, seed + i, ink) for i, p in enumerate(pages)]


def _render(rows, font, size, margin, dpi, seed, ink) -> Image.Image:
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    r = random.Random(seed)
    jitter = max(1, round(dpi / 25.4))  # up to ~1 mm
    dx, dy = r.randint(-jitter, jitter), r.randint(-jitter, jitter)
    for y, text in rows:
        if text:
            draw.text((margin + dx, margin + dy + y), text, font=font, fill=ink)
    return _tag(img, dpi)


def blank_page(
    dpi: int = 300, seed: int = 0, noise: bool = True, *, show_through: Image.Image | None = None
) -> Image.Image:
    """An empty A4 page as a scanner produces the back side of a sheet.

    With ``noise`` (default): paper a little off-white (~245-250) with a faint uneven tint, fine grain and a
    few dust specks / fibres. ``noise=False`` gives a perfectly white (255) page. ``show_through`` (a front
    page image) adds a very faint mirrored ghost of it, as thin paper shows the other side.
    """
    w, h = a4_size(dpi)
    if not noise:
        img = Image.new("L", (w, h), 255)
    else:
        rng = _rng(seed)
        # low-frequency tint: a coarse random field blown up smoothly
        coarse = rng.standard_normal((12, 9)).astype(np.float32) * 1.5
        tint = np.asarray(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC))
        base = np.float32(rng.uniform(245.0, 250.0))
        arr = tint + base
        arr += rng.standard_normal((h, w), dtype=np.float32) * np.float32(1.6)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        scale = dpi / 300
        for _ in range(int(rng.integers(15, 40))):  # dust specks, mostly tiny
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            rad = max(0.5, float(rng.gamma(1.5, 0.9)) * scale)
            g = int(rng.integers(60, 200))
            draw.ellipse((x - rad, y - rad, x + rad, y + rad), fill=g)
        for _ in range(int(rng.integers(0, 4))):  # a hair or paper fibre
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            pts = [(x, y)]
            ang = rng.uniform(0, 2 * np.pi)
            for _ in range(6):
                ang += rng.normal(0, 0.35)
                x += np.cos(ang) * 12 * scale
                y += np.sin(ang) * 12 * scale
                pts.append((x, y))
            draw.line(pts, fill=int(rng.integers(140, 210)), width=max(1, round(scale)))
    if show_through is not None:
        ghost = _as_l(show_through).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if ghost.size != (w, h):
            ghost = ghost.resize((w, h), Image.Resampling.BILINEAR)
        ghost = ghost.filter(ImageFilter.GaussianBlur(2 * dpi / 300))
        a = np.asarray(img, dtype=np.int16) - ((255 - np.asarray(ghost, dtype=np.int16)) * 12 // 255)
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return _tag(img, dpi)


def pdf_page_image(pdf_path, page: int = 1, dpi: int = 300) -> Image.Image:
    """Rasterise page ``page`` (1-based) of a PDF with poppler (pdf2image), as a greyscale image."""
    from pdf2image import convert_from_path

    imgs = convert_from_path(str(pdf_path), dpi=dpi, first_page=page, last_page=page, grayscale=True)
    if not imgs:
        raise ValueError(f"{pdf_path}: no page {page}")
    return _tag(_as_l(imgs[0]), dpi)


# --------------------------------------------------------------------------------------------------
# degradations (each returns a new image)


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    """Rotate counter-clockwise by ``degrees`` around the centre, same size, corners filled white.

    Multiples of 90 are exact pixel transposes (90/270 swap width and height).
    """
    dpi = _img_dpi(img)
    d = degrees % 360
    exact = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    if d in exact:
        out = img.transpose(exact[d])
        return _tag(out, (dpi[1], dpi[0]) if d != 180 else dpi)
    if d == 0:
        return _tag(img.copy(), dpi)
    white = 1 if img.mode == "1" else (255,) * len(img.getbands()) if len(img.getbands()) > 1 else 255
    resample = Image.Resampling.NEAREST if img.mode in ("1", "P") else Image.Resampling.BICUBIC
    return _tag(img.rotate(degrees, resample=resample, expand=False, fillcolor=white), dpi)


def add_noise(img: Image.Image, amount: float = 0.04, seed=0, *, sigma: float | None = None) -> Image.Image:
    """Salt & pepper noise on a fraction ``amount`` of the pixels (half dark, half light specks) plus
    gaussian grain (``sigma`` grey levels, default ``amount * 100``). Mode "1" stays "1"; others become "L".
    """
    dpi = _img_dpi(img)
    binary = img.mode == "1"
    rng = _rng(seed)
    arr = np.asarray(_as_l(img), dtype=np.float32)
    sig = amount * 100 if sigma is None else sigma
    if sig > 0:
        arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(sig)
    if amount > 0:
        u = rng.random(arr.shape, dtype=np.float32)
        half = np.float32(amount / 2)
        arr[u < half] = rng.uniform(0, 90)  # pepper: dark but not always pure black
        arr[u > 1 - half] = 255
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if binary:
        out = out.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)
    return _tag(out, dpi)


def jpeg(img: Image.Image, quality: int = 50) -> Image.Image:
    """JPEG round trip at ``quality`` (blocking and ringing artefacts). Mode "1" is converted to "L"."""
    dpi = _img_dpi(img)
    src = img if img.mode in ("L", "RGB") else img.convert("L" if len(img.getbands()) == 1 else "RGB")
    buf = io.BytesIO()
    src.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return _tag(out, dpi)


def resample_dpi(img: Image.Image, from_dpi: int, to_dpi: int) -> Image.Image:
    """Rescale as if scanned at ``to_dpi`` instead of ``from_dpi`` (area-averaging when downsampling).
    Mode "1" input comes back as "L"; the result is tagged ``to_dpi``."""
    return _resample_xy(img, _dpi_pair(from_dpi), _dpi_pair(to_dpi))


def _resample_xy(img, src: tuple[float, float], dst: tuple[float, float]) -> Image.Image:
    w, h = img.size
    nw, nh = max(1, round(w * dst[0] / src[0])), max(1, round(h * dst[1] / src[1]))
    if img.mode == "1":
        img = img.convert("L")
    # area averaging when downsampling, as a sensor with bigger pixels does
    method = Image.Resampling.BOX if nw < w else Image.Resampling.LANCZOS
    return _tag(img.resize((nw, nh), method), dst)


def fax(
    img: Image.Image, seed: int = 0, *, src_dpi: DpiLike | None = None, threshold: int = 150, header: str | None = None
) -> Image.Image:
    """A fax-like copy: resampled to 204 x 196 dpi (T.4 fine), thresholded to 1 bit (mode "1") with ragged
    edges, a few scan lines jittered sideways by a pixel or repeated, and some specks. The result is tagged
    204x196 dpi; ``src_dpi`` defaults to the image's own dpi (else 300). ``header`` adds a sender line at the
    top edge, as fax machines print (e.g. "VAN: Praktijk +31 20 5550100  12-03-2025 10:14  P.01").
    """
    src = _dpi_pair(src_dpi) if src_dpi is not None else _img_dpi(img)
    small = _resample_xy(_as_l(img), src, FAX_DPI)
    if header:
        small = small.copy()
        hfont = _font(round(8 * FAX_DPI[1] / 72))
        ImageDraw.Draw(small).text((round(FAX_DPI[0] / 4), round(FAX_DPI[1] / 10)), header, font=hfont, fill=0)
    rng = _rng(seed)
    arr = np.asarray(small, dtype=np.float32)
    arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(14)  # ragged glyph edges
    bits = arr >= threshold  # True = white
    rows = np.flatnonzero(rng.random(bits.shape[0]) < 0.03)
    for r, s in zip(rows, rng.choice((-1, 1), size=len(rows))):
        bits[r] = np.roll(bits[r], int(s))
    rep = np.flatnonzero(rng.random(bits.shape[0]) < 0.004)  # a scan line received twice
    rep = rep[rep > 0]
    bits[rep] = bits[rep - 1]
    specks = rng.random(bits.shape, dtype=np.float32) < np.float32(0.0002)
    bits[specks] = False
    out = Image.fromarray(np.where(bits, np.uint8(255), np.uint8(0))).convert("1", dither=Image.Dither.NONE)
    return _tag(out, FAX_DPI)


def office_quality(img: Image.Image, seed=0) -> Image.Image:
    """A typical office multifunction-printer scan: skew of ~0.7 degrees (random sign), slightly grey
    paper and not-quite-black toner, a touch of optical blur, light noise and JPEG quality 70."""
    dpi = _img_dpi(img)
    r = random.Random(seed)
    out = rotate(_tag(_as_l(img), dpi), r.choice((-1, 1)) * r.uniform(0.55, 0.85))
    lo, hi = r.randint(20, 40), r.randint(236, 246)
    out = out.point(lambda v: lo + (hi - lo) * v // 255)  # contrast: toner and paper
    out = _tag(out.filter(ImageFilter.GaussianBlur(0.6 * dpi[0] / 300)), dpi)
    out = add_noise(out, amount=0.002, seed=seed, sigma=3.0)
    return jpeg(out, quality=70)


def duplex(pages: Sequence[Image.Image], seed: int = 0, *, show_through: bool = True) -> list[Image.Image]:
    """A duplex scan batch: every page followed by the (blank, dusty) back of its sheet."""
    out: list[Image.Image] = []
    for i, p in enumerate(pages):
        dpi = _img_dpi(p)
        out.append(p)
        back = blank_page(dpi=round(dpi[0]), seed=seed * 1000 + i, show_through=p if show_through else None)
        if back.size != p.size:
            back = _tag(back.resize(p.size, Image.Resampling.BILINEAR), dpi)
        if p.mode == "1":
            back = _tag(back.point(lambda v: 255 if v >= 128 else 0).convert("1"), dpi)
        out.append(back)
    return out


# --------------------------------------------------------------------------------------------------
# writing files


def _page_dpi(img: Image.Image, dpi: DpiLike | None) -> tuple[float, float]:
    return _dpi_pair(dpi) if dpi is not None else _img_dpi(img)


def _encode_for_pdf(img: Image.Image, jpeg_quality: int | None) -> bytes:
    buf = io.BytesIO()
    if jpeg_quality is not None:
        src = img if img.mode in ("L", "RGB", "CMYK") else img.convert("L" if len(img.getbands()) == 1 else "RGB")
        src.save(buf, format="JPEG", quality=jpeg_quality)  # img2pdf embeds these bytes as /DCTDecode
    elif img.mode == "1":
        img.save(buf, format="TIFF", compression="group4")  # embedded as /CCITTFaxDecode
    else:
        src = img if img.mode in ("L", "RGB") else img.convert("L" if len(img.getbands()) == 1 else "RGB")
        src.save(buf, format="PNG", compress_level=3)  # embedded as /FlateDecode
    return buf.getvalue()


def write_pdf(path, pages: list[Image.Image], dpi: DpiLike | None = None, jpeg_quality: int | None = None) -> Path:
    """Write ``pages`` as a PDF, one image per page, page size = pixel size / dpi (A4 stays A4).

    ``dpi`` None: each page's own ``info["dpi"]`` (default 300). Lossless by default (Flate for greyscale,
    CCITT G4 for mode "1"); with ``jpeg_quality`` every page is JPEG-encoded (/DCTDecode).
    """
    import img2pdf

    if not pages:
        raise ValueError("no pages")
    path = Path(path)
    data = [_encode_for_pdf(p, jpeg_quality) for p in pages]
    dpis = [_page_dpi(p, dpi) for p in pages]

    calls = iter(dpis)

    def layout(imgwidthpx, imgheightpx, ndpi):
        # img2pdf calls this once per (single-frame) input, in order
        return img2pdf.default_layout_fun(imgwidthpx, imgheightpx, next(calls))

    path.write_bytes(img2pdf.convert(data, layout_fun=layout))
    return path


def write_tiff(path, pages: list[Image.Image], dpi: DpiLike | None = None) -> Path:
    """Write a multi-page TIFF: CCITT group 4 when every page is mode "1", else deflate (Adobe) for all.

    ``dpi`` None: the first page's ``info["dpi"]`` (default 300) is used for every frame.
    """
    if not pages:
        raise ValueError("no pages")
    path = Path(path)
    all_bilevel = all(p.mode == "1" for p in pages)
    frames = [p if p.mode in ("1", "L", "RGB") else p.convert("L" if len(p.getbands()) == 1 else "RGB") for p in pages]
    for f in frames:  # an earlier save (e.g. as PNG) leaves its encoder settings behind, which TIFF would reuse
        for attr in ("encoderinfo", "encoderconfig"):
            if hasattr(f, attr):
                delattr(f, attr)
    d = _page_dpi(pages[0], dpi)
    frames[0].save(
        path,
        format="TIFF",
        save_all=True,
        append_images=frames[1:],
        compression="group4" if all_bilevel else "tiff_adobe_deflate",
        dpi=d,
    )
    return path


def write_image(path, page: Image.Image, dpi: DpiLike | None = None, *, quality: int = 90) -> Path:
    """Write one page as PNG, JPEG (.jpg/.jpeg, ``quality``) or TIFF (.tif/.tiff), with DPI metadata."""
    path = Path(path)
    d = _page_dpi(page, dpi)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        src = page if page.mode in ("L", "RGB") else page.convert("L")
        src.save(path, format="JPEG", quality=quality, dpi=d)
    elif suffix == ".png":
        page.save(path, format="PNG", dpi=d, compress_level=3)
    elif suffix in (".tif", ".tiff"):
        write_tiff(path, [page], dpi=d)
    else:
        raise ValueError(f"unsupported image suffix {path.suffix!r} (use .png, .jpg, .jpeg, .tif)")
    return path


# --------------------------------------------------------------------------------------------------
# words and recall

_WORD = re.compile(r"[^\W_]+")


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.lower())
    return "".join(c for c in s if not unicodedata.combining(c))


def words_of(lines: Iterable[str] | str) -> list[str]:
    """Normalised words: lower case, accents folded (cliënt -> client), split on anything that is not a letter
    or digit (so punctuation and hyphens go: "re-integratie" -> "re", "integratie")."""
    if isinstance(lines, str):
        lines = [lines]
    out: list[str] = []
    for line in lines:
        out.extend(_WORD.findall(_fold(line)))
    return out


def word_recall(expected_lines: list[str] | str, ocr_text: str) -> float:
    """Fraction of the expected words (as a multiset) that occur in the OCR text; 1.0 if none expected."""
    exp = Counter(words_of(expected_lines))
    total = sum(exp.values())
    if not total:
        return 1.0
    got = Counter(words_of(ocr_text))
    return sum((exp & got).values()) / total


def ocr_text(
    image: Image.Image | str | os.PathLike, lang: str = "nld+eng", *, psm: int | None = None, timeout: float = 300
) -> str:
    """Run the tesseract CLI on an image (written to a temporary PNG with its dpi) or an image file;
    single-threaded (OMP_THREAD_LIMIT=1) so tests can run pages in parallel."""
    import tempfile

    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    with tempfile.TemporaryDirectory() as td:
        if isinstance(image, Image.Image):
            src = write_image(Path(td) / "page.png", image)
        else:
            src = Path(image)
        cmd = ["tesseract", str(src), "stdout", "-l", lang]
        if psm is not None:
            cmd += ["--psm", str(psm)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=True)
    return res.stdout


# --------------------------------------------------------------------------------------------------
# Dutch (and some English) coaching notes

_SUBJECTS = [
    "cliënt",
    "de cliënt",
    "mevrouw",
    "meneer",
    "de werknemer",
    "de werkgever",
    "de leidinggevende",
    "de bedrijfsarts",
    "de casemanager",
    "de coach",
    "zij",
    "hij",
    "het team",
    "de partner",
]
_VERBS = [
    "geeft aan dat",
    "vertelt dat",
    "merkt op dat",
    "benadrukt dat",
    "herkent dat",
    "verwacht dat",
    "twijfelt of",
    "vraagt zich af of",
    "denkt dat",
    "hoopt dat",
    "ervaart dat",
    "is bang dat",
]
_CLAUSES = [
    "het werk weer zwaar voelt",
    "de energie langzaam terugkomt",
    "de nachten onrustig zijn",
    "de afspraken met de werkgever duidelijk zijn",
    "er te weinig ruimte is voor herstel",
    "de eerste werkdagen goed zijn verlopen",
    "het contact met collega's beter gaat",
    "de planning voor de komende weken haalbaar is",
    "de klachten minder worden",
    "er meer structuur nodig is in de dag",
    "de balans tussen werk en privé beter moet",
    "het gesprek met de leidinggevende spannend was",
    "de uren rustig kunnen worden opgebouwd",
    "er nog veel onzekerheid is over de toekomst",
    "de zorgen over geld toenemen",
    "de thuissituatie veel aandacht vraagt",
    "de motivatie groot is",
    "het sporten helpt",
    "de begeleiding prettig is",
    "een andere functie beter zou passen",
]
_OPENERS = [
    "Gesprek met {s} over werkhervatting en de eerste stappen.",
    "Vandaag een uitgebreid gesprek gevoerd over de voortgang.",
    "Tweede sessie in het kader van het traject.",
    "Telefonisch contact gehad met {s} over de afspraken.",
    "Evaluatie van de afgelopen periode samen besproken.",
    "Intake afgerond, doelen en verwachtingen zijn helder.",
]
_ACTIONS = [
    "Afgesproken dat {s} volgende week twee ochtenden gaat werken.",
    "Volgende afspraak over drie weken, dan evalueren we het plan.",
    "We maken een nieuw schema voor de opbouw van de uren.",
    "Actiepunt voor de coach is contact opnemen met de bedrijfsarts.",
    "Huiswerk is een dagboek bijhouden over energie en stemming.",
    "Het plan van aanpak wordt aangepast en opnieuw besproken.",
    "We spreken af om de voortgang elke maand te bekijken.",
    "De rapportage gaat na akkoord naar de werkgever.",
    "Er volgt een driegesprek met de leidinggevende en de casemanager.",
    "Advies is om meer rust te nemen tussen de taken door.",
]
_OBSERVATIONS = [
    "De stemming lijkt stabiel en het gesprek verliep open.",
    "Er is duidelijk vooruitgang zichtbaar ten opzichte van de vorige keer.",
    "Cliënt was vandaag vermoeid maar wel betrokken.",
    "Tijdens het gesprek kwamen ook financiële zorgen ter sprake.",
    "De samenwerking met het team verloopt volgens cliënt redelijk.",
    "Opvallend is dat de klachten vooral aan het einde van de week spelen.",
    "Het netwerk van familie en vrienden biedt veel steun.",
    "Zij is gemotiveerd om de draad weer op te pakken.",
    "Hij wil graag meer verantwoordelijkheid maar voelt ook druk.",
]
_ENGLISH = [
    "Follow up planned with the employer next month.",
    "Feedback from the manager was positive and constructive.",
    "Action points were agreed and written down together.",
    "The client wants to focus on a healthy work life balance.",
    "Next session we will review the coaching goals.",
    "Notes shared with the company doctor after consent.",
    "Progress is steady although energy levels still vary.",
]
_WEEKDAYS = ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag"]
_MONTHS = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
]


def _sentence(r: random.Random) -> str:
    k = r.random()
    subj = r.choice(_SUBJECTS)
    if k < 0.40:
        s = f"{subj} {r.choice(_VERBS)} {r.choice(_CLAUSES)}."
    elif k < 0.58:
        s = r.choice(_ACTIONS).format(s=r.choice(_SUBJECTS[:4]))
    elif k < 0.76:
        s = r.choice(_OBSERVATIONS)
    elif k < 0.86:
        s = r.choice(_ENGLISH)
    elif k < 0.93:
        s = (
            f"Op {r.choice(_WEEKDAYS)} {r.randint(1, 28)} {r.choice(_MONTHS)} "
            f"{r.choice(['bespreken we', 'evalueren we', 'plannen we'])} "
            f"{r.choice(['het plan', 'de opbouw', 'de voortgang', 'de doelen'])}."
        )
    else:
        s = r.choice(_OPENERS).format(s=r.choice(_SUBJECTS[:4]))
    return s[0].upper() + s[1:]


def dutch_lines(n_words: int, seed: int, marker: str | None = None) -> list[str]:
    """Plausible coaching-note paragraphs (mostly Dutch, some English) of exactly ``n_words`` words
    (whitespace-separated), deterministic by ``seed``. Each item is a paragraph of 1-4 sentences.

    If ``marker`` is given it is inserted verbatim, as a separate word, into the first paragraph (not
    counted in ``n_words``).
    """
    r = random.Random(f"dutch_lines:{seed}")
    words: list[str] = r.choice(_OPENERS).format(s=r.choice(_SUBJECTS[:4])).split()
    bounds: list[int] = []  # paragraph ends, as word counts
    in_para = 1
    while len(words) < n_words:
        if in_para >= r.randint(1, 4):
            bounds.append(len(words))
            in_para = 0
        words += _sentence(r).split()
        in_para += 1
    words = words[:n_words]
    if words and not words[-1].endswith("."):
        words[-1] = words[-1].rstrip(",;:") + "."
    bounds = [b for b in bounds if 0 < b < len(words)] + [len(words)]
    paras, start = [], 0
    for b in bounds:
        paras.append(words[start:b])
        start = b
    paras = [p for p in paras if p]
    if marker:
        first = paras[0] if paras else []
        pos = r.randint(1, max(1, min(len(first), 8))) if first else 0
        first.insert(pos, marker)
        if not paras:
            paras = [first]
    return [" ".join(p) for p in paras]
