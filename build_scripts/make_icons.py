"""Draw Tessera's icon into assets/icons/: an SVG, PNGs from 16 to 512 px, .ico and .icns.

The design is a rounded tile holding a 3×3 tessellation of squares, each split along a
diagonal into two triangles of neighbouring palette colours. The SVG and the bitmaps are drawn
from the same geometry; bitmaps are rendered at 1024 px and scaled down, which anti-aliases the
edges. Run it again after changing the design and commit the output.

    python build_scripts/make_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "assets" / "icons"
CANVAS = 1024
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
BACKGROUND = "#1b2333"
PALETTE = ("#2ec4b6", "#3a86ff", "#8338ec", "#ff006e", "#fb5607", "#ffbe0b")
GRID = 3
MARGIN = 0.16      # of the canvas, around the tessellation
GAP = 0.025        # of the canvas, between squares
CORNER = 0.22      # of the canvas, the background's corner radius


def triangles(size: float) -> list[tuple[str, list[tuple[float, float]]]]:
    """(colour, three points) for every half-square, in drawing order."""
    inner = size * (1 - 2 * MARGIN)
    gap = size * GAP
    cell = (inner - gap * (GRID - 1)) / GRID
    out = []
    for row in range(GRID):
        for col in range(GRID):
            x0 = size * MARGIN + col * (cell + gap)
            y0 = size * MARGIN + row * (cell + gap)
            x1, y1 = x0 + cell, y0 + cell
            # Alternate the diagonal so the halves form diamonds across the grid.
            if (row + col) % 2:
                first, second = [(x0, y0), (x1, y0), (x0, y1)], [(x1, y0), (x1, y1), (x0, y1)]
            else:
                first, second = [(x0, y0), (x1, y0), (x1, y1)], [(x0, y0), (x1, y1), (x0, y1)]
            out.append((PALETTE[(row + col) % len(PALETTE)], first))
            out.append((PALETTE[(row + col + 1) % len(PALETTE)], second))
    return out


def svg() -> str:
    size = 512
    radius = size * CORNER
    shapes = [f'<rect width="{size}" height="{size}" rx="{radius:g}" fill="{BACKGROUND}"/>']
    for colour, points in triangles(size):
        pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
        shapes.append(f'<polygon points="{pts}" fill="{colour}"/>')
    body = "\n  ".join(shapes)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
            f'width="{size}" height="{size}">\n  {body}\n</svg>\n')


def bitmap() -> Image.Image:
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, CANVAS - 1, CANVAS - 1), radius=CANVAS * CORNER, fill=BACKGROUND)
    for colour, points in triangles(CANVAS):
        draw.polygon(points, fill=colour)
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tessera.svg").write_text(svg())
    big = bitmap()
    for size in PNG_SIZES:
        big.resize((size, size), Image.LANCZOS).save(OUT / f"tessera-{size}.png", optimize=True)
    big.save(OUT / "tessera.ico", sizes=[(s, s) for s in ICO_SIZES])
    big.save(OUT / "tessera.icns")
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
