"""pikepdf on the archive side: assembling documents, text-layer grafting, encryption.

Reading scanned pages is scanners/pdfpages.py.

The scanner's page images are kept as they are; OCR only adds an invisible text layer on top,
as OCRmyPDF does. Archived files are AES-256 (R6) with encrypted metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

import pikepdf

from .store import fsync_dir, fsync_file


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


def open_encrypted_bytes(data: bytes, password: str) -> pikepdf.Pdf:
    import io

    return pikepdf.open(io.BytesIO(data), password=password)


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


# What an archived PDF keeps: its pages' content, the resources that content draws with (images,
# fonts, colour spaces, form XObjects, patterns) and their geometry. Everything else a PDF can
# carry is dropped: annotations (links, form widgets, attachments), actions at document and page
# level (OpenAction, /AA: JavaScript, launch, URI, submit), name trees (JavaScript, embedded
# files), forms, outlines, metadata.
_CATALOG_KEEPS = {"/Type", "/Pages"}
_PAGE_TREE_KEEPS = {"/Type", "/Kids", "/Count", "/Parent", "/Resources", "/MediaBox", "/CropBox", "/Rotate"}
_PAGE_KEEPS = {
    "/Type",
    "/Parent",
    "/Resources",
    "/Contents",
    "/MediaBox",
    "/CropBox",
    "/BleedBox",
    "/TrimBox",
    "/ArtBox",
    "/Rotate",
    "/UserUnit",
    "/Group",
}
# Entries that never take part in drawing, dropped wherever they occur in what the pages keep.
_NEVER_KEYS = {
    "/AA",
    "/OpenAction",
    "/JS",
    "/JavaScript",
    "/Annots",
    "/AcroForm",
    "/Names",
    "/EmbeddedFiles",
    "/EF",
    "/AF",
    "/URI",
    "/Outlines",
    "/OPI",
    "/Alternates",
    "/Metadata",
    "/PieceInfo",
    "/XFA",
}
# A stream whose data lives in another file (/F) is never followed.
_STREAM_NEVER_KEYS = {"/F", "/FFilter", "/FDecodeParms"}
_ACTIONS = {
    "/JavaScript",
    "/Launch",
    "/URI",
    "/SubmitForm",
    "/ResetForm",
    "/ImportData",
    "/GoTo",
    "/GoToR",
    "/GoToE",
    "/GoTo3DView",
    "/Thread",
    "/Sound",
    "/Movie",
    "/Hide",
    "/Named",
    "/SetOCGState",
    "/Rendition",
    "/Trans",
    "/RichMediaExecute",
}
_NEVER_TYPES = {"/Annot", "/Action", "/Filespec", "/EmbeddedFile", "/Outlines", "/Sig"}


def sanitise(pdf: pikepdf.Pdf) -> None:
    """Keep page content, images, fonts and the text layer only (see above), in place: done on
    the way into the archive, before encryption. Walks all the catalog reaches, each object once
    and without recursion (object graphs may be deep or loop back)."""
    root = pdf.Root.objgen
    seen: set[tuple[int, int]] = set()
    pending: list[pikepdf.Object] = [pdf.Root]
    while pending:
        obj = pending.pop()
        if obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.Array):
            for i, value in enumerate(obj):
                if _never(value):
                    obj[i] = None
                elif _container(value):
                    pending.append(value)
            continue
        if isinstance(obj, pikepdf.Stream):
            entries, keeps, never = obj.stream_dict, None, _NEVER_KEYS | _STREAM_NEVER_KEYS
        elif isinstance(obj, pikepdf.Dictionary):
            entries, keeps, never = obj, _keeps(obj, root), _NEVER_KEYS
        else:
            continue
        for key in list(entries.keys()):
            value = entries[key]
            if (
                (keeps is not None and key not in keeps)
                or key in never
                or _never(value)
                or (key == "/A" and isinstance(value, pikepdf.Dictionary))
            ):  # an action
                del entries[key]
            elif _container(value):
                pending.append(value)


def _keeps(obj: pikepdf.Dictionary, root: tuple[int, int]) -> set[str] | None:
    if obj.objgen == root:
        return _CATALOG_KEEPS
    return {"/Pages": _PAGE_TREE_KEEPS, "/Page": _PAGE_KEEPS}.get(str(obj.get("/Type")))


def _container(value) -> bool:
    return isinstance(value, (pikepdf.Dictionary, pikepdf.Array, pikepdf.Stream))


def _never(value) -> bool:
    """An action, annotation, file specification or embedded file, wherever it hangs."""
    if not isinstance(value, (pikepdf.Dictionary, pikepdf.Stream)):
        return False
    if str(value.get("/Type")) in _NEVER_TYPES:
        return True
    return isinstance(value, pikepdf.Dictionary) and str(value.get("/S")) in _ACTIONS


# ---- watermarking a copy for a third party --------------------------------------------------------


def watermark(pdf: pikepdf.Pdf, text: str) -> None:
    """Stamp `text` on every page, in place: one legible line along the bottom edge and once, large
    and faint, across the page, so a cropped copy still says whose it is. Helvetica with
    WinAnsiEncoding (characters outside it become '?'), drawn as real text so it can be read back
    and searched. The stamp is placed upright as the page is shown (/Rotate is accounted for)."""
    font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.Type1,
        BaseFont=pikepdf.Name.Helvetica,
        Encoding=pikepdf.Name.WinAnsiEncoding,
    )
    font = pdf.make_indirect(font)
    faint = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.ExtGState, ca=0.18, CA=0.18))
    encoded = text.encode("cp1252", errors="replace")
    for page in pdf.pages:
        box = page.mediabox
        x0, y0, x1, y1 = (float(v) for v in box)
        width, height = x1 - x0, y1 - y0
        if int(page.obj.get("/Rotate", 0)) % 180:
            width, height = height, width  # the stamp is drawn for the page as shown
        stamp = pikepdf.Stream(pdf, _stamp_content(encoded, text, width, height))
        stamp.Type, stamp.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
        stamp.BBox = [0, 0, width, height]
        stamp.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font), ExtGState=pikepdf.Dictionary(GS1=faint))
        page.add_overlay(stamp, pikepdf.Rectangle(x0, y0, x1, y1))


def _stamp_content(encoded: bytes, text: str, width: float, height: float) -> bytes:
    import math

    from reportlab.pdfbase.pdfmetrics import stringWidth

    unit = max(stringWidth(text, "Helvetica", 1), 1.0)  # width at 1 pt
    margin = min(width, height) * 0.04
    line = min(9.0, (width - 2 * margin) / unit)
    diagonal = math.hypot(width, height)
    big = min(60.0, diagonal * 0.8 / unit)
    angle = math.atan2(height, width)
    cos, sin = math.cos(angle), math.sin(angle)
    # Centre the big line on the page's middle, along the diagonal.
    start = (width / 2 - cos * unit * big / 2 + sin * big / 3, height / 2 - sin * unit * big / 2 - cos * big / 3)
    s = pikepdf.String(encoded)
    ops = [
        ([], pikepdf.Operator("q")),
        ([], pikepdf.Operator("BT")),
        ([pikepdf.Name.F1, line], pikepdf.Operator("Tf")),
        ([0.75, 0, 0], pikepdf.Operator("rg")),
        ([margin, max(margin / 2, 4.0)], pikepdf.Operator("Td")),
        ([s], pikepdf.Operator("Tj")),
        ([], pikepdf.Operator("ET")),
        ([pikepdf.Name.GS1], pikepdf.Operator("gs")),
        ([], pikepdf.Operator("BT")),
        ([pikepdf.Name.F1, big], pikepdf.Operator("Tf")),
        ([0.75, 0, 0], pikepdf.Operator("rg")),
        ([cos, sin, -sin, cos, start[0], start[1]], pikepdf.Operator("Tm")),
        ([s], pikepdf.Operator("Tj")),
        ([], pikepdf.Operator("ET")),
        ([], pikepdf.Operator("Q")),
    ]
    return pikepdf.unparse_content_stream(ops)


def page_bytes(source: pikepdf.Pdf, page_number: int) -> bytes:
    """One page (1-based) of an open PDF as a PDF of its own, in memory: what the web viewer
    renders, so only that page's objects are decrypted and handed to poppler."""
    import io

    out = pikepdf.new()
    out.pages.append(source.pages[page_number - 1])
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()
