"""The one wrapper around poppler (pdftoppm through pdf2image): one page at a time."""

from __future__ import annotations

from pathlib import Path

from pdf2image import convert_from_path
from pdf2image.exceptions import PDFPageCountError, PDFSyntaxError
from PIL import Image


class RenderFailed(Exception):
    pass


def render_page(pdf_path: Path, page_number: int, dpi: int, timeout: int = 120) -> Image.Image:
    """Rasterise one page (1-based) in greyscale. Only this page is ever in memory.

    Strict: a page poppler reports a syntax error for (a missing image, a broken content stream)
    fails rather than coming out partly or wholly white. Annotations are not drawn: the archive
    keeps page content only, and OCR reads what the archived page shows."""
    try:
        images = convert_from_path(
            pdf_path,
            dpi=dpi,
            first_page=page_number,
            last_page=page_number,
            grayscale=True,
            timeout=timeout,
            strict=True,
            hide_annotations=True,
        )
    except (PDFPageCountError, PDFSyntaxError, OSError, ValueError) as e:
        raise RenderFailed(type(e).__name__) from None
    if not images:
        raise RenderFailed("no image")
    return images[0]


# ---- pages for people: rendered in memory, through pipes -----------------------------------------
# The web viewer shows decrypted pages: the PDF goes to pdftoppm on its standard input and the PNG
# comes back on its standard output, so no plaintext page or image ever touches the disk. Each run
# is bounded in time and memory (a hostile quarantined file cannot take the server down).

RENDER_TIMEOUT = 30
RENDER_MEMORY = 1 << 30  # address space of one poppler run


def _limit_memory() -> None:  # pragma: no cover - runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (RENDER_MEMORY, RENDER_MEMORY))


def _run(cmd: list[str], pdf: bytes) -> bytes:
    import subprocess

    try:
        done = subprocess.run(
            cmd, input=pdf, capture_output=True, timeout=RENDER_TIMEOUT, preexec_fn=_limit_memory, check=False
        )
    except subprocess.TimeoutExpired:
        raise RenderFailed("timeout") from None
    if done.returncode != 0 or not done.stdout:
        raise RenderFailed(f"{cmd[0]} exit {done.returncode}")  # its stderr may quote the file: not passed on
    return done.stdout


def render_jpeg(pdf: bytes, page: int = 1, *, width: int, quality: int = 85) -> bytes:
    """One page of an in-memory PDF as a JPEG `width` pixels wide (the height follows the page).
    JPEG, not PNG: a scanned page is a photograph of paper, and zlib on its noise takes a second
    and more where JPEG takes ~50 ms."""
    return _run(
        [
            "pdftoppm",
            "-jpeg",
            "-jpegopt",
            f"quality={quality}",
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            "-scale-to-x",
            str(width),
            "-scale-to-y",
            "-1",
            "-hide-annotations",
        ],
        pdf,
    )


def word_boxes(pdf: bytes, page: int = 1) -> tuple[tuple[float, float], list[tuple[str, float, float, float, float]]]:
    """The words of a page's text layer with their boxes in PDF points from the top left, and the
    page size: ((width, height), [(word, x0, y0, x1, y1), ...])."""
    import xml.etree.ElementTree as ET

    out = _run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), "-", "-"], pdf)
    ns = "{http://www.w3.org/1999/xhtml}"
    root = ET.fromstring(out)
    node = root.find(f".//{ns}page")
    if node is None:
        return (1.0, 1.0), []
    size = (float(node.get("width")), float(node.get("height")))
    words = [
        (w.text or "", float(w.get("xMin")), float(w.get("yMin")), float(w.get("xMax")), float(w.get("yMax")))
        for w in node.iter(f"{ns}word")
    ]
    return size, words


def render_marked_jpeg(pdf: bytes, page: int = 1, *, width: int, marked) -> bytes:
    """render_jpeg with the words for which `marked(word)` is true highlighted (search terms)."""
    import io

    from PIL import Image, ImageDraw

    jpeg = render_jpeg(pdf, page, width=width)
    (pw, ph), words = word_boxes(pdf, page)
    hits = [w for w in words if marked(w[0])]
    if not hits:
        return jpeg
    with Image.open(io.BytesIO(jpeg)) as img:
        base = img.convert("RGB")
    sx, sy = base.width / pw, base.height / ph
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _, x0, y0, x1, y1 in hits:
        draw.rectangle([x0 * sx - 2, y0 * sy - 2, x1 * sx + 2, y1 * sy + 2], fill=(255, 213, 0, 110))
    out = io.BytesIO()
    Image.alpha_composite(base.convert("RGBA"), overlay).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()
