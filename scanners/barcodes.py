"""The one wrapper around the barcode decoders (pyzbar/zbar and zxing-cpp).

Everything else in the project calls :func:`read_barcodes` and never imports a decoder directly,
so decoder quirks (symbology selection, text decoding, image modes) are handled in one place.

Design, with the measurements that chose it (2-vCPU box, A4 page rasterised at 300 dpi, i.e.
2480x3508 px greyscale; paperless-ngx barcode corpus + synthetic stress pages):

* Only QR, Code 39 and Code 128 are enabled in both decoders. Fewer symbologies means fewer
  false reads on text and fewer decode attempts per scanline.
* Both decoders are orientation-independent on their own: zbar scans rows *and* columns and
  reads 1-D codes in both directions, QR finder patterns are rotation invariant, and zxing-cpp
  runs with ``try_rotate``. Measured: 90/180/3/10/45 degree rotations decode on the first pass,
  so we never rotate the page ourselves.
* A ladder of passes; the first pass that returns anything wins (its values are returned):

  1. ``reduced``            pyzbar, greyscale box-reduced to ~150 dpi (long side <= 1800 px).
                            ~0.04 s. Our own cover sheets carry a 6-8 cm QR with error correction
                            H (a module is ~1.7 mm = ~10 px at 150 dpi), so they end here. The box
                            filter also averages JPEG artefacts and light speckle away: it read
                            pages that full resolution missed (7 cm QR with 5 % salt-and-pepper,
                            JPEG q=10; 6 of the 7 QR codes on many-qr-codes.pdf p1 vs 2 at
                            full resolution). Every barcode page of the peer corpus but one ends
                            here.
  2. ``reduced-binarised``  pyzbar, the reduced image thresholded at 128. ~0.04 s. Rescues
                            noisy pages (salt-and-pepper, rotated+JPEG+noise) where zbar's own
                            scanline thresholding is fooled by isolated specks.
  3. ``full-binarised``     pyzbar, full resolution (capped at ~400 dpi) thresholded at 128.
                            ~0.10 s. Small codes (QR of ~1 cm, thin Code 39 bars) need the pixels.
                            Binarising at 128 is what reads barcode-qr-asn-000123-upscale-dpi.pdf
                            (a small printed-and-rescanned QR): plain greyscale fails at every
                            resolution 150-400 dpi, threshold 128 works at all of them, while
                            Otsu (threshold ~170 on a mostly white page) only works at some.
                            In every measurement it found everything the plain full-resolution
                            greyscale pass found (and more), so that pass is left out.
  4. ``zxing``              zxing-cpp on the full-resolution greyscale image. ~0.03 s. Kept
                            because it rescued pages the pyzbar passes above miss (7 cm QR with
                            20 % and 40 % salt-and-pepper noise; 1.5 cm QR with uneven
                            illumination + blur; 1.5 cm QR low contrast + blur + JPEG; a
                            0.17 mm-module Code 39 at 300 dpi) and it is the cheapest pass.
                            It is not first because pyzbar+ladder also reads pages zxing misses
                            (Code 39 at 150 dpi, 1.5 cm QR with heavy noise).

  A 1.5x upscale pass (what paperless used for the small QR) was measured and dropped: ~0.35 s
  per page and it never rescued a page that the passes above did not already read.

* Cost on a plain text page (all passes run and find nothing): ~0.2 s at 300 dpi A4, inside the
  ~0.3 s budget, so there is no "does this page look like it has a barcode" pre-filter: such a
  heuristic could only save ~0.15 s per page and every false negative would lose a cover sheet.
* ``stop at the first pass that finds something`` means a later pass could have found an extra,
  smaller code on a page whose big code was already read on pass 1. For cover sheets that is
  the intended trade-off; all codes of the same size class are read together (both tags on
  split-by-tag-multiple-per-page.pdf p1 come out of pass 1).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable

import numpy as np
import zxingcpp
from PIL import Image
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

__all__ = ["read_barcodes"]

log = logging.getLogger(__name__)

# pyzbar: restrict zbar to the symbologies we use (faster and fewer false reads on text).
_ZBAR_SYMBOLS = [ZBarSymbol.QRCODE, ZBarSymbol.CODE39, ZBarSymbol.CODE128]


def _zxing_formats():
    # "Code39Std" (zxing-cpp >= 3): plain Code 39 like zbar. The generic "Code39" in zxing-cpp 3
    # also applies the full-ASCII extension, which silently turns "A+B" into "Ab" and "AB/C" into
    # "AB#" (measured), so the same printed code would read differently per decoder.
    # zxing-cpp 2.x has no "Code39Std"; fall back to "Code39" there.
    try:
        return zxingcpp.barcode_formats_from_str("QRCode,Code39Std,Code128")
    except Exception:  # pragma: no cover - depends on the installed zxing-cpp version
        return zxingcpp.barcode_formats_from_str("QRCode,Code39,Code128")


_ZXING_FORMATS = _zxing_formats()

# Long side of the "reduced" image: ~150 dpi for A4 (3508 px at 300 dpi -> factor 2).
_REDUCED_LONG_SIDE = 1800
# Cap for the "full resolution" passes: ~400 dpi for A4. Scans above that (600 dpi, or a huge
# image) are box-reduced first; barcodes need no more, and zbar time grows with the pixel count.
_FULL_LONG_SIDE = 4800
# Fixed binarisation threshold; see the module docstring for why not Otsu.
_THRESHOLD = 128
_BINARISE_LUT = [0] * (_THRESHOLD + 1) + [255] * (255 - _THRESHOLD)


def _to_grey(image: Image.Image) -> Image.Image:
    """Return an 8-bit greyscale ('L') copy of ``image``; transparency is flattened onto white."""
    image.load()
    mode = image.mode
    if mode == "L":
        return image
    if mode == "P":
        # Palette images may carry transparency; resolve it through RGBA.
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        # An alpha channel (e.g. the TIFF patch-code-t-middle-alpha.tiff) must be composited on
        # white paper: the colour under transparent pixels is undefined and may be black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("L")
    if mode.startswith("I;16"):
        # PIL's convert('L') clips 16-bit values at 255 instead of scaling them.
        arr = np.asarray(image, dtype=np.uint32) >> 8
        return Image.fromarray(arr.astype(np.uint8), "L")
    if mode in ("I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        return Image.fromarray(((arr - lo) * scale).astype(np.uint8), "L")
    # '1', 'RGB', 'CMYK', 'YCbCr', ...: PIL converts these correctly.
    return image.convert("L")


def _box_reduce(image: Image.Image, factor: int) -> Image.Image:
    """Average ``factor`` x ``factor`` pixel blocks.

    ``Image.reduce`` is much faster than ``resize``, and the averaging is what suppresses speckle
    and JPEG noise on the reduced pass.
    """
    return image.reduce(factor) if factor > 1 else image


def _binarise(image: Image.Image) -> Image.Image:
    return image.point(_BINARISE_LUT)


def _decode_zbar(image: Image.Image) -> list[str]:
    return [
        symbol.data.decode("utf-8", errors="replace")
        for symbol in pyzbar.decode(image, symbols=_ZBAR_SYMBOLS)
    ]


def _decode_zxing(image: Image.Image) -> list[str]:
    # TextMode.Plain: the payload text itself, no human-readable decoration of control codes.
    return [
        result.text
        for result in zxingcpp.read_barcodes(
            image, formats=_ZXING_FORMATS, text_mode=zxingcpp.TextMode.Plain
        )
    ]


class _Page:
    """Lazily prepared variants of one page, so each is computed at most once per call."""

    def __init__(self, image: Image.Image):
        self._grey = _to_grey(image)
        self._cache: dict[str, Image.Image] = {}

    def get(self, variant: str) -> Image.Image:
        if variant not in self._cache:
            if variant == "full":
                # Smallest integer factor that brings the long side under the cap.
                img = _box_reduce(self._grey, math.ceil(max(self._grey.size) / _FULL_LONG_SIDE))
            elif variant == "reduced":
                full = self.get("full")
                # Nearest integer factor to ~150 dpi; 1 (no reduction) for scans at <= ~200 dpi.
                img = _box_reduce(full, round(max(full.size) / _REDUCED_LONG_SIDE))
            elif variant == "reduced-binarised":
                img = _binarise(self.get("reduced"))
            elif variant == "full-binarised":
                if self.get("reduced") is self.get("full"):
                    img = self.get("reduced-binarised")  # same pixels, keep identity for dedup
                else:
                    img = _binarise(self.get("full"))
            else:  # pragma: no cover - programming error
                raise KeyError(variant)
            self._cache[variant] = img
        return self._cache[variant]


_Decoder = Callable[[Image.Image], list[str]]

# Stages of (pass name, image variant, decoder). Stages run cheapest/most likely first and the
# first stage that finds anything ends the scan; the passes *within* a stage all run and their
# values are merged. Why these passes and this order: see the module docstring.
_LADDER: list[list[tuple[str, str, _Decoder]]] = [
    [("reduced", "reduced", _decode_zbar)],
    [("reduced-binarised", "reduced-binarised", _decode_zbar)],
    [("zxing", "full", _decode_zxing), ("full-binarised", "full-binarised", _decode_zbar)],
]


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return list(seen)


def _scan(image: Image.Image) -> tuple[list[str], str | None, list[tuple[str, float]]]:
    """Run the ladder.

    Returns (values, name of the stage's pass(es) that found them or None, [(pass, seconds)]).
    The timing of a pass includes preparing its image variant; "prepare" is the greyscale
    conversion.
    """
    if image.width == 0 or image.height == 0:
        return [], None, []
    t0 = time.perf_counter()
    page = _Page(image)
    timings: list[tuple[str, float]] = [("prepare", time.perf_counter() - t0)]
    done: set[tuple[int, int]] = set()
    for stage in _LADDER:
        found: list[str] = []
        found_by: list[str] = []
        for name, variant, decoder in stage:
            t = time.perf_counter()
            img = page.get(variant)
            # At <= ~200 dpi the reduced image *is* the full image: never decode the same pixels
            # twice with the same decoder.
            key = (id(img), id(decoder))
            if key in done:
                continue
            done.add(key)
            values = decoder(img)
            timings.append((name, time.perf_counter() - t))
            if values:
                found.extend(values)
                found_by.append(name)
        values = _unique(found)
        if values:
            return values, "+".join(found_by), timings
    return [], None, timings


def read_barcodes(image: Image.Image) -> list[str]:
    """All distinct barcode values on the page, in order of first appearance.

    Only QR, Code 39 and Code 128 are read; values are UTF-8 text. Works in any orientation and
    on greyscale, colour, 1-bit, alpha and 16-bit images. Returns ``[]`` when nothing is found.
    See the module docstring for the retry ladder and what each pass costs.
    """
    values, found_by, timings = _scan(image)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "barcodes %r by %s (%s)",
            values,
            found_by or "no pass",
            ", ".join(f"{n} {dt * 1000:.0f} ms" for n, dt in timings),
        )
    return values
