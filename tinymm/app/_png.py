"""A dependency-free PNG writer and a tiny raster canvas (5x7 bitmap font, lines, boxes).

tinymm draws its figures (sample grids, loss curves, attention maps) without matplotlib:
a figure is a ``Canvas`` (an (H, W, 3) uint8 array) that ``save_png`` encodes.

The PNG format, as much of it as we need: an 8-byte signature, then chunks
``length (4 bytes, big-endian) | type (4 ASCII bytes) | data | CRC-32 of type + data``:
``IHDR`` (width, height, bit depth 8, colour type 2 = RGB, compression 0, filter 0,
interlace 0), one ``IDAT`` holding the zlib-compressed scanlines (each row prefixed by its
filter byte, 0 = none), and an empty ``IEND``.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

# ---------------------------------------------------------------------------- PNG encoding


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(rgb: np.ndarray) -> bytes:
    """The bytes of a PNG file showing ``rgb``: an (H, W, 3) uint8 array."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"encode_png: expected an (H, W, 3) uint8 array, got shape "
                         f"{rgb.shape} dtype {rgb.dtype}")
    H, W, _ = rgb.shape
    rows = np.zeros((H, 1 + 3 * W), dtype=np.uint8)  # (H, 1 + 3W): filter byte 0 per row
    rows[:, 1:] = rgb.reshape(H, 3 * W)
    header = struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write ``rgb`` ((H, W, 3) uint8) to ``path`` as PNG, atomically (temp file + rename)."""
    data = encode_png(rgb)
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def decode_png(data: bytes) -> np.ndarray:
    """Read back what ``encode_png`` writes (8-bit RGB, filter 0 rows): for tests."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("decode_png: not a PNG file (bad signature)")
    pos, idat, W, H = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            W, H = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(H, 1 + 3 * W)
    return rows[:, 1:].reshape(H, W, 3).copy()


# ---------------------------------------------------------------------------- 5x7 font
# Each glyph: 7 rows of 5 pixels, '#' = ink. Lowercase letters are drawn as capitals.
_GLYPH_ROWS = {
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "####.|#...#|#...#|#...#|#...#|#...#|####.",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    ",": ".....|.....|.....|.....|.##..|..#..|.#...",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    "/": ".....|....#|...#.|..#..|.#...|#....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
    "_": ".....|.....|.....|.....|.....|.....|#####",
    "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    "'": "..#..|..#..|.....|.....|.....|.....|.....",
    "*": ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
}
GLYPH_W, GLYPH_H = 5, 7
_GLYPHS = {ch: np.array([[c == "#" for c in row] for row in rows.split("|")], dtype=bool)
           for ch, rows in _GLYPH_ROWS.items()}


def text_width(text: str, scale: int = 1) -> int:
    """Pixels taken by ``text`` (6 px per character at scale 1: 5 of glyph, 1 of space)."""
    return len(text) * (GLYPH_W + 1) * scale


class Canvas:
    """An (H, W, 3) uint8 image to draw on; coordinates are (x, y) with y pointing down."""

    def __init__(self, height: int, width: int, background=(255, 255, 255)):
        self.pixels = np.empty((height, width, 3), dtype=np.uint8)  # (H, W, 3)
        self.pixels[:] = background

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    def text(self, x: int, y: int, text: str, color=(0, 0, 0), scale: int = 1) -> None:
        """Draw ``text`` with its top-left corner at (x, y); unknown characters print '?'."""
        for i, ch in enumerate(text):
            glyph = _GLYPHS.get(ch.upper(), _GLYPHS["?"])
            glyph = np.kron(glyph, np.ones((scale, scale), dtype=bool))  # (7s, 5s)
            x0 = x + i * (GLYPH_W + 1) * scale
            self._blit_mask(x0, y, glyph, color)

    def _blit_mask(self, x: int, y: int, mask: np.ndarray, color) -> None:
        h, w = mask.shape
        ya, yb = max(y, 0), min(y + h, self.height)
        xa, xb = max(x, 0), min(x + w, self.width)
        if ya >= yb or xa >= xb:
            return
        sub = mask[ya - y:yb - y, xa - x:xb - x]
        self.pixels[ya:yb, xa:xb][sub] = color

    def rect(self, x: int, y: int, w: int, h: int, color, fill: bool = True) -> None:
        if fill:
            self._blit_mask(x, y, np.ones((h, w), dtype=bool), color)
        else:
            self.line(x, y, x + w - 1, y, color)
            self.line(x, y + h - 1, x + w - 1, y + h - 1, color)
            self.line(x, y, x, y + h - 1, color)
            self.line(x + w - 1, y, x + w - 1, y + h - 1, color)

    def image(self, x: int, y: int, rgb: np.ndarray, scale: int = 1) -> None:
        """Paste an (h, w, 3) uint8 image, enlarged ``scale`` times by pixel repetition."""
        big = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)  # (h s, w s, 3)
        h, w = big.shape[:2]
        ya, yb = max(y, 0), min(y + h, self.height)
        xa, xb = max(x, 0), min(x + w, self.width)
        if ya < yb and xa < xb:
            self.pixels[ya:yb, xa:xb] = big[ya - y:yb - y, xa - x:xb - x]

    def line(self, x0: float, y0: float, x1: float, y1: float, color, width: int = 1) -> None:
        """A straight line, sampled at one point per pixel of its longer extent."""
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.rint(np.linspace(x0, x1, steps)).astype(np.int64)
        ys = np.rint(np.linspace(y0, y1, steps)).astype(np.int64)
        for dx in range(width):
            for dy in range(width):
                xx, yy = xs + dx - width // 2, ys + dy - width // 2
                keep = (xx >= 0) & (xx < self.width) & (yy >= 0) & (yy < self.height)
                self.pixels[yy[keep], xx[keep]] = color

    def polyline(self, xs, ys, color, width: int = 1) -> None:
        for i in range(len(xs) - 1):
            self.line(xs[i], ys[i], xs[i + 1], ys[i + 1], color, width)

    def save(self, path) -> None:
        save_png(path, self.pixels)


# Distinct line colours for plots (tab10-like).
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def line_plot(panels: list[dict], path, panel_w: int = 360, panel_h: int = 240) -> None:
    """Side-by-side line plots written to ``path`` as PNG.

    Each panel is ``{"title": str, "series": {label: [y values]}, "x": [x values] (optional),
    "ylim": (lo, hi) (optional)}``; the x axis is the index (1, 2, ...) unless given.
    """
    margin_l, margin_r, margin_t, margin_b = 44, 10, 22, 30
    canvas = Canvas(panel_h, panel_w * len(panels))
    for p, panel in enumerate(panels):
        ox = p * panel_w
        series = {k: np.asarray(v, dtype=float) for k, v in panel["series"].items() if len(v)}
        values = np.concatenate(list(series.values())) if series else np.zeros(1)
        values = values[np.isfinite(values)] if np.isfinite(values).any() else np.zeros(1)
        lo, hi = panel.get("ylim") or (float(values.min()), float(values.max()))
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        n = max((len(v) for v in series.values()), default=1)
        xs_all = np.asarray(panel.get("x") or np.arange(1, n + 1), dtype=float)
        x_lo, x_hi = float(xs_all.min()), float(xs_all.max())
        if x_hi - x_lo < 1e-12:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        x_a, x_b = ox + margin_l, ox + panel_w - margin_r
        y_a, y_b = margin_t, panel_h - margin_b

        def to_px(x, y, x_lo=x_lo, x_hi=x_hi, lo=lo, hi=hi, x_a=x_a, x_b=x_b, y_a=y_a,
                  y_b=y_b):
            px = x_a + (np.asarray(x) - x_lo) / (x_hi - x_lo) * (x_b - x_a)
            py = y_b - (np.asarray(y) - lo) / (hi - lo) * (y_b - y_a)
            return px, py

        canvas.text(ox + margin_l, 6, panel.get("title", ""), (0, 0, 0))
        for frac in (0.0, 0.5, 1.0):  # horizontal grid lines with their values
            yv = lo + frac * (hi - lo)
            _, py = to_px(x_lo, yv)
            canvas.line(x_a, py, x_b, py, (225, 225, 225))
            canvas.text(ox + 2, int(py) - 3, f"{yv:.4g}"[:7], (80, 80, 80))
        canvas.line(x_a, y_a, x_a, y_b, (0, 0, 0))
        canvas.line(x_a, y_b, x_b, y_b, (0, 0, 0))
        canvas.text(x_a, y_b + 6, f"{x_lo:g}", (80, 80, 80))
        end_label = f"{x_hi:g}"
        canvas.text(x_b - text_width(end_label), y_b + 6, end_label, (80, 80, 80))
        for i, (label, ys) in enumerate(series.items()):
            color = PALETTE[i % len(PALETTE)]
            px, py = to_px(xs_all[:len(ys)], np.clip(np.nan_to_num(ys, nan=lo), lo, hi))
            if len(ys) == 1:
                canvas.rect(int(px[0]) - 1, int(py[0]) - 1, 3, 3, color)
            canvas.polyline(px, py, color, width=2)
            canvas.rect(x_a + 6, y_a + 4 + 10 * i, 8, 3, color)
            canvas.text(x_a + 18, y_a + 2 + 10 * i, label, color)
    canvas.save(path)
