"""Hostile input (DESIGN.md §12) through the real `dossier scan`. Every file is made here, never
committed: decompression bombs, a 10,000-page PDF, object graphs that nest deep or loop, a page
that cannot be decoded, and PDFs carrying JavaScript, launch actions, embedded files and forms.

Each refused file ends in the quarantine with its own reason, the whole call within 120 s and
1.5 GB peak RSS (the `dossier` process and every tool it ran, from wait4). The PDFs that carry
active content are ordinary scans with a cover sheet: they are filed, and the archived copy,
decrypted with `dossier get`, holds no object that acts, also after `quarantine assign`.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from scanners import imagesize
from scanners.pages import Limits, SourceProblem, normalise_to_pdf

from . import scanmaker as sm
from .conftest import BIN

SECONDS = 120
PEAK_RSS = 1.5 * 2**30
MARK = b"HOSTILE"

# ---------------------------------------------------------------------------------------------
# Decompression bombs: small files whose own headers announce gigapixels.


def png_bomb(path: Path, side: int = 60_000) -> Path:
    """A 1-bit PNG, side x side white: ~2 MB on disk, 3.6 gigapixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\0" + b"\xff" * (side // 8)) * 1000
    z = zlib.compressobj(1)
    idat = b"".join(z.compress(rows) for _ in range(side // 1000)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def g4_white(height: int) -> bytes:
    """CCITT G4 (and JBIG2 MMR) data of white rows: each row is one 'vertical 0' code (bit 1)."""
    return b"\xff" * -(-height // 8) + b"\x00\x10\x01"  # then end of facsimile block


def tiff_g4(path: Path, frames: list[tuple[int, int]]) -> Path:
    """A multi-page TIFF of all-white G4 frames [(width, height)], written field by field."""
    out = bytearray(b"II*\x00\0\0\0\0")
    link = 4
    for width, height in frames:
        data = g4_white(height)
        data_at = len(out)
        out += data + b"\0" * (len(data) % 2)
        res_at = len(out)
        out += struct.pack("<IIII", 300, 1, 300, 1)
        struct.pack_into("<I", out, link, len(out))
        fields = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, 1),
            (259, 3, 4),
            (262, 3, 0),
            (273, 4, data_at),
            (277, 3, 1),
            (278, 4, height),
            (279, 4, len(data)),
            (282, 5, res_at),
            (283, 5, res_at + 8),
            (296, 3, 2),
        ]
        out += struct.pack("<H", len(fields))
        for tag, kind, value in fields:
            out += struct.pack("<HHI", tag, kind, 1) + struct.pack(
                "<HH" if kind == 3 else "<I", *((value, 0) if kind == 3 else (value,))
            )
        link = len(out)
        out += b"\0\0\0\0"
    path.write_bytes(bytes(out))
    return path


def jpeg_bomb(side: int) -> bytes:
    """A valid baseline JPEG of side x side grey: every 8x8 block is 'DC unchanged, end of block',
    6 bits with the standard tables Pillow writes."""
    buf = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buf, "JPEG", quality=50)
    data = buf.getvalue()
    sos = data.index(b"\xff\xda")
    head = bytearray(data[:sos])
    struct.pack_into(">HH", head, head.index(b"\xff\xc0") + 5, side, side)
    scan_header = data[sos : sos + 2 + struct.unpack_from(">H", data, sos + 2)[0]]
    return bytes(head) + scan_header + b"\x28\xa2\x8a" * ((side // 8) ** 2 // 4 + 1) + b"\xff\xd9"


def jpx_bomb(side: int) -> bytes:
    """A JPEG 2000 file whose header box and codestream agree on side x side (openjpeg allocates
    that before it finds the tile data missing)."""
    buf = io.BytesIO()
    Image.new("L", (16, 16), 255).save(buf, "JPEG2000", no_jp2=False)
    data = bytearray(buf.getvalue())
    struct.pack_into(">II", data, data.index(b"ihdr") + 4, side, side)
    siz = data.index(b"\xff\x4f\xff\x51")
    struct.pack_into(">IIIIIIII", data, siz + 8, side, side, 0, 0, side, side, 0, 0)
    return bytes(data)


def jbig2_bomb(side: int) -> bytes:
    """A page information segment and one immediate generic region over the whole page, MMR-coded
    white: ~12 KB that decode to side x side pixels (poppler allocates page and region)."""

    def segment(number: int, kind: int, body: bytes) -> bytes:
        return struct.pack(">IBBBI", number, kind, 0, 1, len(body)) + body

    region = struct.pack(">IIIIB", side, side, 0, 0, 0) + b"\x01" + g4_white(side)
    return segment(0, 48, struct.pack(">IIIIBH", side, side, 0, 0, 0, 0)) + segment(1, 38, region)


def flate_bomb(megabytes: int = 512) -> bytes:
    """Zeros that unpack to `megabytes`, far more than the image they stand for needs."""
    z = zlib.compressobj(1)
    zeros = b"\0" * 2**20
    return b"".join(z.compress(zeros) for _ in range(megabytes)) + z.flush()


def pdf_with_image(path: Path, data: bytes, filter_: str, *, size=(100, 100), bpc: int = 8) -> Path:
    """A one-page PDF whose whole page is one image; the dictionary states `size`, whatever the
    data's own header says."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    image = pdf.make_stream(
        data,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=size[0],
        Height=size[1],
        BitsPerComponent=bpc,
        ColorSpace=pikepdf.Name.DeviceGray,
        Filter=pikepdf.Name(filter_),
    )
    page = pdf.pages[0]
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.Contents = pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
    pdf.save(path)
    return path


# ---------------------------------------------------------------------------------------------
# Object graphs, written by hand: pikepdf would not write some of them.


def raw_pdf(path: Path, objects: dict[int, bytes]) -> Path:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    path.write_bytes(bytes(out))
    return path


def _stream(entries: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data)


_CATALOG = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"}
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] %s >>"


def deep_arrays(path: Path, depth: int = 5000) -> Path:
    return raw_pdf(path, {**_CATALOG, 3: _PAGE % (b"/Foo " + b"[" * depth + b"]" * depth)})


def reference_chain(path: Path, length: int = 100_000) -> Path:
    """Each array holds the next by reference: qpdf's copier recursed through it and crashed."""
    chain = {4 + i: b"[%d 0 R]" % (5 + i) for i in range(length)}
    return raw_pdf(path, {**_CATALOG, 3: _PAGE % b"/Foo 4 0 R", **chain, 4 + length: b"[]"})


def form_drawing_itself(path: Path) -> Path:
    return raw_pdf(
        path,
        {
            **_CATALOG,
            3: _PAGE % b"/Resources << /XObject << /X 4 0 R >> >> /Contents 5 0 R",
            4: _stream(
                b"/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << /XObject << /X 4 0 R >> >>", b"/X Do"
            ),
            5: _stream(b"", b"/X Do"),
        },
    )


def looping_page_tree(path: Path) -> Path:
    return raw_pdf(
        path,
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
            3: _PAGE % b"",
        },
    )


def many_pages(path: Path, count: int) -> Path:
    """`count` pages, each drawing one line (written by hand: pikepdf takes seconds for 10,000)."""
    content = 3 + count
    pages = {
        3 + i: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> /Contents %d 0 R >>" % content
        for i in range(count)
    }
    kids = b" ".join(b"%d 0 R" % n for n in pages)
    return raw_pdf(
        path,
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
            **pages,
            content: _stream(b"", b"0 0 m 595 842 l S"),
        },
    )


def damaged_page(path: Path, pages: list[Image.Image]) -> Path:
    """Scanned pages whose last JPEG was cut off after its header: poppler draws that page white,
    without an error, so it would pass for a blank back."""
    sm.write_pdf(path, pages, jpeg_quality=80)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        (image,) = pdf.pages[-1].resources.XObject.values()
        image.write(image.read_raw_bytes()[:600], filter=pikepdf.Name.DCTDecode)
        pdf.save(path)
    return path


# ---------------------------------------------------------------------------------------------
# Active content: everything a PDF can carry besides its pages' drawing, each marked HOSTILE.


def _js(pdf: pikepdf.Pdf, code: str) -> pikepdf.Object:
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Action, S=pikepdf.Name.JavaScript, JS=pikepdf.String(f"app.alert('HOSTILE {code}')")
        )
    )


def _launch() -> pikepdf.Dictionary:
    return pikepdf.Dictionary(
        S=pikepdf.Name.Launch,
        F=pikepdf.String("HOSTILE.exe"),
        Win=pikepdf.Dictionary(F=pikepdf.String("cmd.exe"), P=pikepdf.String("/c HOSTILE")),
    )


def _embedded(pdf: pikepdf.Pdf, name: str) -> pikepdf.Dictionary:
    data = pdf.make_stream(b"HOSTILE embedded " + name.encode(), Type=pikepdf.Name.EmbeddedFile)
    return pikepdf.Dictionary(
        Type=pikepdf.Name.Filespec, F=pikepdf.String(f"HOSTILE-{name}"), EF=pikepdf.Dictionary(F=data)
    )


def add_active_content(path: Path) -> Path:
    """Document level: OpenAction, /AA, a JavaScript name tree, embedded files, an AcroForm (with
    XFA), outlines with an action. Every page: /AA (open: launch, close: JavaScript), a form
    widget with a keystroke script and an appearance, a launch link, a URI link, a file attachment."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        root = pdf.Root
        root.OpenAction = _js(pdf, "open")
        root.AA = pikepdf.Dictionary(WC=_js(pdf, "will close"))
        root.Names = pikepdf.Dictionary(
            JavaScript=pikepdf.Dictionary(Names=[pikepdf.String("init"), _js(pdf, "named")]),
            EmbeddedFiles=pikepdf.Dictionary(Names=[pikepdf.String("a"), pdf.make_indirect(_embedded(pdf, "a"))]),
        )
        item = pdf.make_indirect(pikepdf.Dictionary(Title=pikepdf.String("HOSTILE outline"), A=_js(pdf, "outline")))
        root.Outlines = pdf.make_indirect(
            pikepdf.Dictionary(Type=pikepdf.Name.Outlines, First=item, Last=item, Count=1)
        )
        item.Parent = root.Outlines
        fields = []
        for page in pdf.pages:
            appearance = pdf.make_stream(
                b"BT /Helv 12 Tf 2 4 Td (HOSTILE appearance) Tj ET",
                Type=pikepdf.Name.XObject,
                Subtype=pikepdf.Name.Form,
                BBox=[0, 0, 200, 20],
            )
            widget = pdf.make_indirect(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Annot,
                    Subtype=pikepdf.Name.Widget,
                    FT=pikepdf.Name.Tx,
                    T=pikepdf.String("HOSTILE"),
                    V=pikepdf.String("HOSTILE value"),
                    Rect=[100, 100, 300, 120],
                    P=page.obj,
                    AP=pikepdf.Dictionary(N=appearance),
                    AA=pikepdf.Dictionary(K=_js(pdf, "keystroke")),
                )
            )
            fields.append(widget)
            annotations = [widget] + [
                pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Annot, Rect=[0, 0, 20, 20], **a))
                for a in (
                    {"Subtype": pikepdf.Name.Link, "A": _launch()},
                    {
                        "Subtype": pikepdf.Name.Link,
                        "A": pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://HOSTILE.example/")),
                    },
                    {"Subtype": pikepdf.Name.FileAttachment, "FS": _embedded(pdf, "b")},
                )
            ]
            page.Annots = pdf.make_indirect(pikepdf.Array(annotations))
            page.AA = pikepdf.Dictionary(O=_launch(), C=_js(pdf, "page close"))
        root.AcroForm = pikepdf.Dictionary(
            Fields=fields, NeedAppearances=True, XFA=pdf.make_stream(b"<xdp:xdp>HOSTILE xfa</xdp:xdp>")
        )
        pdf.save(path)
    return path


# Keys and kinds that act or carry files; none may be anywhere in an archived PDF.
ACTING_KEYS = {
    "/JS",
    "/JavaScript",
    "/AA",
    "/OpenAction",
    "/A",
    "/Annots",
    "/AcroForm",
    "/XFA",
    "/Names",
    "/EmbeddedFiles",
    "/EF",
    "/AF",
    "/Outlines",
    "/URI",
    "/FT",
}
ACTING_KINDS = {
    "/JavaScript",
    "/Launch",
    "/URI",
    "/SubmitForm",
    "/ImportData",
    "/GoToR",
    "/GoToE",
    "/Annot",
    "/Action",
    "/Filespec",
    "/EmbeddedFile",
    "/Widget",
    "/Link",
    "/FileAttachment",
}


def acting_objects(path: Path) -> list[str]:
    """Walk every object in the file (the cross-reference table, not only what is reachable) and
    everything inside each: what acts, and any HOSTILE marker in a string or (decoded) stream."""
    found = []
    with pikepdf.open(path) as pdf:
        for top in [pdf.trailer, *pdf.objects]:
            pending = [top]
            while pending:
                obj = pending.pop()
                if isinstance(obj, pikepdf.String) and MARK in bytes(obj):
                    found.append(f"string in {top.objgen}")
                if isinstance(obj, pikepdf.Stream):
                    try:
                        data = obj.read_bytes()
                    except pikepdf.PdfError:  # image formats qpdf does not decode
                        data = obj.read_raw_bytes()
                    if MARK in data:
                        found.append(f"stream {obj.objgen}")
                    entries = obj.stream_dict.items()
                elif isinstance(obj, pikepdf.Dictionary):
                    entries = obj.items()
                elif isinstance(obj, pikepdf.Array):
                    entries = enumerate(obj)
                else:
                    continue
                for key, value in entries:
                    if key in ACTING_KEYS:
                        found.append(f"{key} in {top.objgen}")
                    if isinstance(value, pikepdf.Name) and str(value) in ACTING_KINDS:
                        found.append(f"{value} in {top.objgen}")
                    if not getattr(value, "is_indirect", False):  # each indirect object is a top of its own
                        pending.append(value)
    return found


# ---------------------------------------------------------------------------------------------


def scan_measured(archive, files: list[Path], **env) -> tuple[list[dict], float, int]:
    """`dossier scan --json` as a child process: its results, wall time and peak RSS in bytes. The
    peak comes from wait4, which covers the process and every child it waited for (poppler,
    tesseract). A call over the time bound is killed and fails the test."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            [str(BIN / "dossier"), "scan", *map(str, files), "--json"],
            env={**archive.env("olaf"), **env},
            stdout=out,
            stderr=err,
        )
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > SECONDS:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                pytest.fail(f"dossier scan ran over {SECONDS} s")
            time.sleep(0.1)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        assert proc.returncode == 0, err.read().decode()[-2000:]
        return json.loads(out.read())["results"], seconds, usage.ru_maxrss * 1024


REFUSED = {
    "png bomb": "image-too-large",
    "tiff bomb": "image-too-large",
    "jpeg bomb": "image-too-large",
    "jpeg bomb in pdf": "image-too-large",
    "jpeg 2000 bomb in pdf": "image-too-large",
    "jbig2 bomb in pdf": "image-too-large",
    "flate bomb in pdf": "image-too-large",
    "10,000 pages": "too-many-pages",
    "3 pages, limit 2": "too-many-pages",
    "deep arrays": "pdf-structure",
    "reference chain": "pdf-structure",
    "form drawing itself": "pdf-structure",
    "looping page tree": "pdf-structure",
    "damaged page": "unreadable-page",
}


@pytest.fixture(scope="module")
def refused(shared_archive, tmp_path_factory):
    a = shared_archive
    tmp = tmp_path_factory.mktemp("hostile")
    dossier = a.new_dossier("anna")
    cover = sm.pdf_page_image(a.cover(dossier, "aantekeningen", tmp / "cover.pdf"))
    jpeg = jpeg_bomb(30_000)  # 900 megapixels: 10 MB of data
    (tmp / "bomb.jpg").write_bytes(jpeg)
    files = {
        "png bomb": png_bomb(tmp / "bomb.png"),
        "tiff bomb": tiff_g4(tmp / "bomb.tif", [(2480, 3508), (100_000, 100_000)]),  # the bomb is page 2
        "jpeg bomb": tmp / "bomb.jpg",
        "jpeg bomb in pdf": pdf_with_image(tmp / "jpeg.pdf", jpeg, "/DCTDecode"),
        "jpeg 2000 bomb in pdf": pdf_with_image(tmp / "jpx.pdf", jpx_bomb(100_000), "/JPXDecode"),
        "jbig2 bomb in pdf": pdf_with_image(tmp / "jbig2.pdf", jbig2_bomb(100_000), "/JBIG2Decode", bpc=1),
        "flate bomb in pdf": pdf_with_image(tmp / "flate.pdf", flate_bomb(), "/FlateDecode", size=(2480, 3508)),
        "10,000 pages": many_pages(tmp / "many.pdf", 10_000),
        "3 pages, limit 2": many_pages(tmp / "three.pdf", 3),
        "deep arrays": deep_arrays(tmp / "deep.pdf"),
        "reference chain": reference_chain(tmp / "chain.pdf"),
        "form drawing itself": form_drawing_itself(tmp / "self.pdf"),
        "looping page tree": looping_page_tree(tmp / "loop.pdf"),
        "damaged page": damaged_page(tmp / "damaged.pdf", [cover, sm.text_page(sm.dutch_lines(60, seed=2), seed=2)]),
    }
    assert list(files) == list(REFUSED)
    results, seconds, rss = scan_measured(a, list(files.values()), DOSSIER_MAX_PAGES="2")
    items = {i["id"]: i for i in a.ok("quarantine", "list", user="olaf")["items"]}
    return dict(
        a=a,
        dossier=dossier,
        seconds=seconds,
        rss=rss,
        by_name={name: (r, [items[q] for q in r["quarantine"]]) for name, r in zip(files, results)},
    )


@pytest.mark.prefect
@pytest.mark.parametrize("name", list(REFUSED))
def test_hostile_files_are_quarantined_with_their_own_reason(refused, name):
    result, items = refused["by_name"][name]
    assert result["status"] == "quarantined" and result["documents"] == [], result
    assert [i["code"] for i in items] == [REFUSED[name]], items
    assert "scan" in items[0]["reason"]  # says what to do


@pytest.mark.prefect
def test_hostile_files_are_refused_in_bounded_time_and_memory(refused):
    print(f"{len(REFUSED)} files: {refused['seconds']:.0f} s, peak RSS {refused['rss'] / 2**20:.0f} MB")
    assert refused["seconds"] < SECONDS
    assert refused["rss"] < PEAK_RSS, f"{refused['rss'] / 2**20:.0f} MB"


@pytest.mark.prefect
def test_an_undecodable_page_holds_the_scan_not_dropped_as_blank(refused):
    """The damaged page stands after a valid cover sheet: taken for a blank back it would have
    left an empty document or been dropped; instead nothing of the scan was filed."""
    assert refused["a"].ok("docs", refused["dossier"], user="anna")["documents"] == []
    (item,) = refused["by_name"]["damaged page"][1]
    assert "page 2" in item["reason"]


@pytest.mark.prefect
def test_refused_files_cannot_be_assigned(refused):
    for name in ("jbig2 bomb in pdf", "10,000 pages", "reference chain", "damaged page"):
        (item,) = refused["by_name"][name][1]
        r = refused["a"].run(
            "quarantine", "assign", item["id"], "--dossier", refused["dossier"], "--type", "cv", user="olaf"
        )
        assert r.rc == 2, (name, r.stderr)


@pytest.fixture(scope="module")
def active(shared_archive, tmp_path_factory):
    """A scan with a cover sheet and a page without one, both carrying active content: the first
    is filed, the second quarantined (no cover) and then assigned by hand."""
    a = shared_archive
    tmp = tmp_path_factory.mktemp("active")
    dossier = a.new_dossier("anna")
    cover = sm.pdf_page_image(a.cover(dossier, "aantekeningen", tmp / "cover.pdf"))
    lines = [sm.dutch_lines(60, seed=seed) for seed in (21, 22)]
    with_cover = add_active_content(sm.write_pdf(tmp / "with-cover.pdf", [cover, sm.text_page(lines[0], seed=21)]))
    without = add_active_content(sm.write_pdf(tmp / "without-cover.pdf", [sm.text_page(lines[1], seed=22)]))
    assert len(acting_objects(with_cover)) > 20 and len(acting_objects(without)) > 20  # the checker sees them
    results, seconds, rss = scan_measured(a, [with_cover, without])
    assert seconds < SECONDS and rss < PEAK_RSS
    filed, held = results
    assert filed["status"] == "archived" and len(filed["documents"]) == 1, filed
    (item,) = held["quarantine"]
    assigned = a.ok("quarantine", "assign", item, "--dossier", dossier, "--type", "cv", user="olaf")
    copies = {}
    for name, doc in (("filed", filed["documents"][0]), ("assigned", assigned["documents"][0])):
        copies[name] = tmp / f"{name}.pdf"
        a.ok("get", doc["id"], "-o", copies[name], user="anna")
    return dict(copies=copies, lines=dict(filed=lines[0], assigned=lines[1]))


@pytest.mark.prefect
@pytest.mark.parametrize("name", ["filed", "assigned"])
def test_archived_copy_keeps_no_active_content(active, name):
    assert acting_objects(active["copies"][name]) == []


@pytest.mark.prefect
@pytest.mark.parametrize("name", ["filed", "assigned"])
def test_archived_copy_keeps_page_image_and_text_layer(active, name):
    path = active["copies"][name]
    with pikepdf.open(path) as pdf:
        (page,) = pdf.pages
        assert len(page.get_images()) == 1  # the scanner's image
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert sm.word_recall(active["lines"][name], text) > 0.9


# ---------------------------------------------------------------------------------------------
# The limits below the command: settings, the images' own headers.


def test_page_limit_is_a_setting(monkeypatch, tmp_path):
    from dossier.settings import Settings
    from dossier.wiring import build_runtime

    monkeypatch.setenv("DOSSIER_HOME", str(tmp_path))
    assert Settings().max_pages == 1000
    monkeypatch.setenv("DOSSIER_MAX_PAGES", "7")
    assert build_runtime(Settings()).limits.max_pages == 7
    monkeypatch.setenv("DOSSIER_MAX_PAGES", "0")
    with pytest.raises(ValueError):
        Settings()


def test_page_limit_counts_image_frames(tmp_path):
    tiff = tiff_g4(tmp_path / "three.tif", [(2480, 3508)] * 3)
    assert normalise_to_pdf(tiff, tmp_path / "ok.pdf", Limits(max_pages=3)) == 3
    with pytest.raises(SourceProblem) as refused_:
        normalise_to_pdf(tiff, tmp_path / "no.pdf", Limits(max_pages=2))
    assert refused_.value.code == "too-many-pages"


@pytest.mark.parametrize("size", [(123, 45), (2480, 3508)])
def test_image_headers_give_the_real_size(size):
    for kind, read in (("JPEG", imagesize.jpeg_size), ("JPEG2000", imagesize.jpx_size)):
        for options in ({}, {"progressive": True} if kind == "JPEG" else {"no_jp2": True}):
            buf = io.BytesIO()
            Image.new("L", size, 200).save(buf, kind, **options)
            assert read(buf.getvalue()) == size, (kind, options)
    assert imagesize.jbig2_size(jbig2_bomb(777)) == (777, 777)
    assert imagesize.jpeg_size(b"not a jpeg") is None and imagesize.jpx_size(b"\0" * 40) is None
