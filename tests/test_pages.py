"""Getting page pixels: a page that is just the scanner's image is decoded directly, and what that
gives must look like what poppler renders, at the same size and with the scanner's dpi."""

from __future__ import annotations

import numpy as np
import pikepdf
import pytest
from PIL import Image

from classify.coversheet import make_payload, render_cover_pdf
from scanners import pdfpages
from scanners.pages import Limits, SourceProblem, normalise_to_pdf, render
from scanners.poppler import render_page
from tests import scanmaker as sm

LIMITS = Limits()


def _text(dpi: int = 300, seed: int = 1) -> Image.Image:
    return sm.text_page(sm.dutch_lines(60, seed=seed), dpi=dpi, seed=seed)


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute grey difference over the common area (sizes may differ by a rounding pixel)."""
    w, h = min(a.width, b.width), min(a.height, b.height)
    x = np.asarray(a.convert("L").crop((0, 0, w, h)), dtype=np.int16)
    y = np.asarray(b.convert("L").crop((0, 0, w, h)), dtype=np.int16)
    return float(np.abs(x - y).mean())


def _same_as_poppler(path, *, direct: bool, tolerance: float):
    with pikepdf.open(path) as doc:
        decoded = pdfpages.scan_image(doc.pages[0])
    assert (decoded is not None) == direct
    ours = render(path, 1, LIMITS)
    poppler = render_page(path, 1, LIMITS.dpi)
    assert ours.mode == "L"
    assert abs(ours.width - poppler.width) <= 2 and abs(ours.height - poppler.height) <= 2
    difference = _difference(ours, poppler)
    assert difference < tolerance, difference
    return ours, decoded


def _bilevel(image: Image.Image) -> Image.Image:
    return sm._tag(image.point(lambda v: 255 if v > 128 else 0).convert("1"), 300)


def _tinted(image: Image.Image) -> Image.Image:
    rgb = image.convert("RGB")
    return sm._tag(
        Image.merge(
            "RGB",
            [
                rgb.getchannel(0),
                rgb.getchannel(1).point(lambda v: v * 0.97),
                rgb.getchannel(2).point(lambda v: v * 0.9),
            ],
        ),
        300,
    )


@pytest.mark.parametrize(
    "name, make, jpeg",
    [
        ("grey JPEG", lambda: sm.office_quality(_text()), 70),
        ("grey lossless", lambda: _text(), None),
        ("colour lossless", lambda: _tinted(_text()), None),
        ("1-bit CCITT", lambda: _bilevel(_text()), None),
    ],
)
def test_scanner_pages_are_decoded_not_rendered(tmp_path, name, make, jpeg):
    original = make()
    path = sm.write_pdf(tmp_path / "scan.pdf", [original], jpeg_quality=jpeg)
    # poppler smooths a little even at the image's own dpi: close, not equal
    ours, (_, dpi) = _same_as_poppler(path, direct=True, tolerance=3)
    assert round(dpi) == 300 and ours.info["dpi"] == (300, 300)
    if jpeg is None:  # lossless: exactly the scanner's pixels, in grey
        assert ours.size == original.size and _difference(ours, original.convert("L")) == 0


def test_image_files_keep_the_scanners_bytes(tmp_path):
    jpeg = sm.write_image(tmp_path / "scan.jpg", sm.office_quality(_text(seed=7)))
    tiff = sm.write_tiff(tmp_path / "scan.tif", [_bilevel(_text(seed=8))])
    for source, stored_as in ((jpeg, "/DCTDecode"), (tiff, "/CCITTFaxDecode")):
        target = tmp_path / f"{source.stem}-{source.suffix[1:]}.pdf"
        normalise_to_pdf(source, target, LIMITS)
        with pikepdf.open(target) as doc:
            (image,) = doc.pages[0].resources["/XObject"].values()
            filters = image.Filter if isinstance(image.Filter, pikepdf.Array) else [image.Filter]
            assert stored_as in [str(f) for f in filters]
            if stored_as == "/DCTDecode":
                assert image.read_raw_bytes() == source.read_bytes()
        _same_as_poppler(target, direct=True, tolerance=3)


@pytest.mark.parametrize("scanned, expected_factor", [(200, 1.5), (600, 0.5)])
def test_other_resolutions_come_out_at_the_working_dpi(tmp_path, scanned, expected_factor):
    page = _text(dpi=scanned, seed=3)
    path = sm.write_pdf(tmp_path / "scan.pdf", [page])
    ours, (_, dpi) = _same_as_poppler(path, direct=True, tolerance=8)
    assert round(dpi) == scanned
    assert ours.info["dpi"] == (300, 300)
    assert abs(ours.width - page.width * expected_factor) <= 2


def test_a_turned_photo_is_decoded_upright(tmp_path):
    """A JPEG whose EXIF says 'turn me': img2pdf records that as /Rotate, which must be applied."""
    upright = _text(seed=4)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # the camera stored it on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    source = tmp_path / "photo.jpg"
    stored.save(source, "JPEG", quality=85, dpi=(300, 300), exif=exif)
    path = tmp_path / "pages.pdf"
    normalise_to_pdf(source, path, LIMITS)
    with pikepdf.open(path) as doc:
        assert int(doc.pages[0].obj.get("/Rotate", 0)) != 0
    ours, _ = _same_as_poppler(path, direct=True, tolerance=2)
    assert ours.size == upright.size
    assert _difference(ours, upright) < 3


def test_pages_with_more_than_an_image_are_rendered(tmp_path):
    vector = render_cover_pdf(tmp_path / "cover.pdf", make_payload(b"k" * 32, "D-000001", "intake", 1))
    _same_as_poppler(vector, direct=False, tolerance=0.01)

    fax = sm.write_pdf(tmp_path / "fax.pdf", [sm.fax(_text(seed=5))])  # 204 x 196 dpi: pixels not square
    _same_as_poppler(fax, direct=False, tolerance=0.01)

    # An image that does not cover the page (a photo pasted on a letter) is left to the renderer.
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    photo = tmp_path / "photo.png"
    _text(seed=6).reduce(4).save(photo)
    letter = tmp_path / "letter.pdf"
    c = canvas.Canvas(str(letter), pagesize=A4)
    c.drawImage(str(photo), 100, 300, width=300, height=424)
    c.showPage()
    c.save()
    _same_as_poppler(letter, direct=False, tolerance=0.01)


def _damage(path, cut) -> None:
    with pikepdf.open(path, allow_overwriting_input=True) as doc:
        image = next(x for x in doc.pages[0].resources["/XObject"].values() if x.Subtype == "/Image")
        raw = image.read_raw_bytes()
        image.write(cut(raw), filter=image.Filter, decode_parms=image.get("/DecodeParms"))
        doc.save(path)


@pytest.mark.parametrize("cut", [lambda raw: raw[: len(raw) // 2], lambda raw: raw[:600]], ids=["half", "header only"])
def test_a_damaged_image_stream_makes_the_page_unreadable(tmp_path, cut):
    """Poppler draws a cut-off JPEG partly or not at all, without an error: a page drawn as
    nothing would pass for a blank back and be dropped. It must hold the scan instead."""
    path = sm.write_pdf(tmp_path / "scan.pdf", [sm.office_quality(_text(seed=9))], jpeg_quality=70)
    _damage(path, cut)
    with pikepdf.open(path) as doc, pytest.raises(pdfpages.Undecodable):
        pdfpages.scan_image(doc.pages[0])
    with pytest.raises(SourceProblem) as raised:
        render(path, 1, LIMITS)
    assert raised.value.code == "unreadable-page" and "page 1" in str(raised.value)


def test_a_damaged_image_on_a_rendered_page_makes_it_unreadable(tmp_path):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    photo = tmp_path / "photo.png"
    _text(seed=6).reduce(4).save(photo)
    letter = tmp_path / "letter.pdf"
    c = canvas.Canvas(str(letter), pagesize=A4)
    c.drawString(100, 800, "Geachte heer,")
    c.drawImage(str(photo), 100, 300, width=300, height=424)
    c.showPage()
    c.save()
    render(letter, 1, LIMITS)  # whole, it renders
    _damage(letter, lambda raw: raw[: len(raw) // 3])
    with pytest.raises(SourceProblem) as raised:
        render(letter, 1, LIMITS)
    assert raised.value.code == "unreadable-page"
