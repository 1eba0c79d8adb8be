"""The one wrapper around the barcode decoders (pyzbar/zbar and zxing-cpp).

Everything else in the project calls :func:`read_barcodes` and never imports a decoder directly,
so decoder quirks (symbology selection, text decoding, image modes) are handled in one place.

Design, with the measurements that chose it (2-vCPU box shared with other jobs; A4 rasterised at
300 dpi = 2480x3508 px greyscale; the paperless-ngx barcode corpus (89 pages) plus ~80 synthetic
stress pages; timings are the minimum of 7 runs on dense text pages):

* Only QR, Code 39 and Code 128 are enabled in both decoders: fewer symbologies means fewer
  false reads on text and less work per scanline.
* Both decoders are orientation-independent on their own: zbar scans rows *and* columns and reads
  1-D codes in both directions, QR finder patterns are rotation invariant, and zxing-cpp runs with
  ``try_rotate``. Measured: 90/180/3/10/45 degree rotations decode on the first pass, so we never
  rotate the page ourselves.
* A ladder of stages, cheapest and most likely first. The first stage that finds anything ends
  the scan and its values are returned; within a stage every pass runs and values are merged.

  1. ``reduced``            pyzbar on the greyscale page box-reduced to ~150 dpi (long side
                            ~1800 px). 23-37 ms. Our cover sheets carry a 6-8 cm QR with error
                            correction H (a module is ~1.7 mm = ~10 px at 150 dpi): they end here
                            (~30 ms in all), as do 40 of the 41 barcode pages of the peer corpus.
                            The box average also smooths JPEG artefacts and light speckle: this
                            pass read pages full resolution missed (7 cm QR at JPEG q=10; 6 of the
                            7 QR codes on many-qr-codes.pdf p1 against 2 at full resolution).
  2. ``reduced-binarised``  pyzbar on the reduced image thresholded at 128. 20-31 ms. Rescues
                            noisy scans (salt-and-pepper up to ~20 %, rotated+JPEG+noise) where
                            zbar's own scanline thresholding is fooled by specks. It is the only
                            pass that reads a 1.5 cm QR with 10 % noise (zxing-cpp misses it).
  3. ``zxing`` + ``full-binarised``, merged: zxing-cpp on the full-resolution greyscale page
                            (32-46 ms) and pyzbar on the full-resolution page thresholded at 128
                            (87-120 ms). Full resolution is capped at ~400 dpi (long side 4800 px).
                            Small codes need the pixels. zxing-cpp earns its place by measurement:
                            it read 5 synthetic pages no pyzbar pass read (7 cm QR with 20-40 %
                            salt-and-pepper; 1.5 cm QR with uneven light + blur; 1.5 cm QR with
                            low contrast + blur + JPEG; Code 39 with 0.17 mm bars at 300 dpi,
                            which pyzbar only read after a 1.5x upscale costing ~0.35 s). It does
                            not come first because the pyzbar passes read pages it misses (Code
                            39 at 150 dpi, small noisy QR). On the peer corpus it rescued no page
                            (it reads all 7 codes of many-qr-codes.pdf p1, but they carry one
                            value). pyzbar at full resolution binarised at 128 is the pyzbar
                            reader of barcode-qr-asn-000123-upscale-dpi.pdf (a small printed and
                            rescanned QR): greyscale fails at every resolution 150-400 dpi,
                            threshold 128 works at all of them, Otsu (~170 on a mostly white
                            page) only at some. Both decoders read that page; keeping both at
                            full resolution means no small code depends on one decoder's quirks.
                            Plain full-resolution greyscale pyzbar was dropped: in every
                            measurement the binarised pass found everything it found.

  Dropped after measuring: a 1.5x upscale pass (paperless's fix for the small QR): ~0.35 s per
  page and, with zxing-cpp in the ladder, it rescued nothing. Otsu instead of a fixed threshold:
  see above.

* Cost of a plain text page (every pass runs, nothing found): 0.17-0.24 s at 300 dpi A4, against
  0.02-0.04 s for the first stage alone. The reader itself never skips stages; a caller that knows
  a page holds no large code asks for the first stage only (``thorough=False``). The scan
  pipeline does that for pages without a QR-like block of ink (classify.pages.page_ink) and
  catches a cover missed anyway by its printed words (flows/process_scan.py).
* Stopping at the first stage that finds something means a much smaller second code on a page
  whose big code was read in stage 1 can be missed. For cover sheets that is the intended trade;
  codes of similar size are read together (both tags of split-by-tag-multiple-per-page.pdf p1
  come out of stage 1).
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


# The formats object is made per call (microseconds): a module-level instance outlives the
# interpreter's teardown of zxingcpp and nanobind prints leak warnings on every exit.

# Long side of the "reduced" image: ~150 dpi for A4 (3508 px at 300 dpi -> factor 2).
_REDUCED_LONG_SIDE = 1800
# Cap for the "full resolution" passes: ~400 dpi for A4. Scans above that (600 dpi, or a huge
# image) are box-reduced first; barcodes need no more, and zbar time grows with the pixel count.
_FULL_LONG_SIDE = 4800
# Fixed binarisation threshold; see the module docstring for why not Otsu.
_THRESHOLD = 128
_BINARISE_LUT = [0] * (_THRESHOLD + 1) + [255] * (255 - _THRESHOLD)


def _to_grey(image: Image.Image) -> Image.Image:
    """8-bit greyscale (mode "L") version of ``image`` (the image itself if already "L").

    Transparency is flattened onto white paper; 16-bit and float images are scaled, not clipped.
    """
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
        # white paper: the colour under transparent pixels is undefined and may well be black,
        # which would put the code on a black background without a quiet zone.
        alpha = image.getchannel("A")
        grey = image.convert("L")
        if alpha.getextrema()[0] == 255:  # fully opaque: nothing to composite
            return grey
        return Image.composite(grey, Image.new("L", image.size, 255), alpha)
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
    return [symbol.data.decode("utf-8", errors="replace") for symbol in pyzbar.decode(image, symbols=_ZBAR_SYMBOLS)]


def _decode_zxing(image: Image.Image) -> list[str]:
    # TextMode.Plain: the payload text itself, no human-readable decoration of control codes.
    return [
        result.text
        for result in zxingcpp.read_barcodes(image, formats=_zxing_formats(), text_mode=zxingcpp.TextMode.Plain)
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


def _scan(image: Image.Image, thorough: bool = True) -> tuple[list[str], str | None, list[tuple[str, float]]]:
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
    for stage in _LADDER if thorough else _LADDER[:1]:
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


def read_barcodes(image: Image.Image, *, thorough: bool = True) -> list[str]:
    """All distinct barcode values on the page, in order of first appearance.

    Only QR, Code 39 and Code 128 are read; values are UTF-8 text. Works in any orientation and
    on greyscale, colour, 1-bit, alpha and 16-bit images. Returns ``[]`` when nothing is found.
    See the module docstring for the retry ladder and what each pass costs. ``thorough=False``
    runs the first stage only (~30 ms instead of ~0.2 s on a page without codes): for callers
    that know the page holds no large code worth rescuing.
    """
    values, found_by, timings = _scan(image, thorough)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "barcodes %r by %s (%s)",
            values,
            found_by or "no pass",
            ", ".join(f"{n} {dt * 1000:.0f} ms" for n, dt in timings),
        )
    return values
