"""Read pixels out of a PNG (8-bit RGB/RGBA, not interlaced: what Chromium writes), and write
a one-color PNG for upload tests; no PIL."""

from __future__ import annotations

import struct
import zlib

_CHANNELS = {2: 3, 6: 4}  # color type -> bytes per pixel at bit depth 8


def _chunks(data: bytes) -> tuple[bytes, bytes]:
    """The IHDR payload and the concatenated IDAT payloads."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, header, idat = 8, b"", bytearray()
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return header, bytes(idat)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter(kind: int, line: bytearray, prev: bytes, bpp: int) -> bytes:
    """Undo one row's filter (PNG spec 9.2) given the unfiltered row above."""
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + prev[i]) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + prev[i]) // 2) & 0xFF
        elif kind == 4:
            corner = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, prev[i], corner)) & 0xFF
    return bytes(line)


def pixel_rows(data: bytes, last_row: int) -> tuple[int, list[bytes]]:
    """(bytes per pixel, rows 0..last_row unfiltered); later rows are never decoded."""
    header, idat = _chunks(data)
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, color type {color}, "
                         f"interlace {interlace}")
    bpp, stride = _CHANNELS[color], width * _CHANNELS[color]
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * (min(last_row, height - 1) + 1))
    rows: list[bytes] = []
    prev = bytes(stride)
    for y in range(min(last_row, height - 1) + 1):
        start = y * (stride + 1)
        rows.append(prev := _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]),
                                      prev, bpp))
    return bpp, rows


def pixel(data: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB color at (x, y)."""
    bpp, rows = pixel_rows(data, y)
    r, g, b = rows[y][x * bpp:x * bpp + 3]
    return r, g, b


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid 8-bit RGB PNG of one color."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    row = b"\x00" + bytes(rgb) * width  # filter type 0 (none) on every row
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))
