"""How large an encoded image really is, read from the encoded data's own header.

A PDF's image dictionary states /Width and /Height, but the decoders (libjpeg, openjpeg and the
JBIG2 decoder in poppler; Pillow) allocate what the data's own header says. A hostile file states
a small size in the dictionary and a huge one in the data, so the pixel limit is checked against
these sizes before anything is decoded. Pure functions over bytes: (width, height), or None when
no header is found (the decoder would then fail on the data as well).
"""

from __future__ import annotations

import struct

# JPEG start-of-frame markers (baseline, extended, progressive, lossless, arithmetic variants);
# 0xC4 (DHT), 0xC8 (JPG) and 0xCC (DAC) sit in the same range but are not frames.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """From the first start-of-frame segment. A height of 0 (defined later by a DNL marker) is
    returned as it is: libjpeg refuses such files, so the page fails to decode."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack_from(">H", data, i + 2)
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack_from(">HH", data, i + 5)
            return width, height
        i += 2 + length
    return None


def jpx_size(data: bytes) -> tuple[int, int] | None:
    """From the SIZ marker of the codestream, in a bare codestream or inside a JP2 file's 'jp2c'
    box (the JP2 header box may state another size; the codestream is what gets decoded)."""
    if data.startswith(b"\xff\x4f\xff\x51"):
        return _siz(data)
    i = 0
    while i + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, i)
        header = 8
        if length == 1:
            if i + 16 > len(data):
                return None
            (length,) = struct.unpack_from(">Q", data, i + 8)
            header = 16
        if kind == b"jp2c":
            return _siz(data[i + header :])
        if length == 0 or length < header:  # 0: the box runs to the end of the file
            return None
        i += length
    return None


def _siz(codestream: bytes) -> tuple[int, int] | None:
    if not codestream.startswith(b"\xff\x4f\xff\x51") or len(codestream) < 24:
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", codestream, 8)
    return max(0, xsiz - xosiz), max(0, ysiz - yosiz)


_JBIG2_PAGE_INFO = 48
_JBIG2_END_OF_FILE = 51
# Region segments start with a region information field: width, height, x, y.
_JBIG2_REGIONS = {4, 6, 7, 20, 22, 23, 36, 38, 39, 40, 42, 43}
_UNKNOWN = 0xFFFFFFFF


def jbig2_size(data: bytes, globals_data: bytes = b"") -> tuple[int, int] | None:
    """The page a JBIG2 decoder sets up (embedded organisation, as PDF holds it): the page
    information segment's size; for a striped page of unknown height, as far down as any region
    reaches. Regions wider or lower than the page count too: a decoder allocates them first."""
    page: tuple[int, int] | None = None
    width = height = 0
    for kind, body in _jbig2_segments(globals_data + data):
        if kind == _JBIG2_PAGE_INFO and len(body) >= 8:
            page = struct.unpack_from(">II", body, 0)
        elif kind in _JBIG2_REGIONS and len(body) >= 16:
            w, h, x, y = struct.unpack_from(">IIII", body, 0)
            width, height = max(width, w, x + w), max(height, h, y + h)
        elif kind == _JBIG2_END_OF_FILE:
            break
    if page is None:
        return (width, height) if width else None
    page_w, page_h = page
    if page_h == _UNKNOWN:
        page_h = height
    return max(page_w, width), max(page_h, height)


def _jbig2_segments(data: bytes):
    """(segment type, the first bytes of its data) for each segment header that can be read."""
    i = 0
    while i + 11 <= len(data):
        number, flags, refs = struct.unpack_from(">IBB", data, i)
        kind, long_page = flags & 0x3F, flags & 0x40
        i += 6
        count = refs >> 5
        if count == 7:  # long form: a 29-bit count, then the retention bits
            (count,) = struct.unpack_from(">I", data, i - 1)
            count &= 0x1FFFFFFF
            i += 3 + (count + 8) // 8
        ref_size = 1 if number <= 256 else 2 if number <= 65536 else 4
        i += count * ref_size + (4 if long_page else 1)
        if i + 4 > len(data):
            return
        (length,) = struct.unpack_from(">I", data, i)
        i += 4
        yield kind, data[i : i + 17]
        if length == _UNKNOWN:  # an immediate generic region of unknown length ends what can be read
            return
        i += length
