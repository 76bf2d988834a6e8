"""Which style a run uses: a built-in style of multistyle26, a blend of them, or style images.

`--style` names one style (weight 1) and `--mix NAME=W,…` adds more; the weights are normalised.
A built-in style is `style-N` or `N` (0–25); anything else is a path to a style image, whose
style vector comes from the arbitrary-style predictor. Built-in styles and style images can't
be blended (they are different networks); several style images blend their style vectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tessera.errors import TesseraError
from tessera.zoo.bundled_styles import PREDICTOR, STYLE_COUNT, STYLE_NAMES, TRANSFORM

MULTISTYLE = "multistyle26"


@dataclass(frozen=True)
class StyleChoice:
    builtin: bool
    entries: tuple[tuple[str, float], ...]     # (style name or image path, normalised weight)

    @property
    def network(self) -> str:
        return MULTISTYLE if self.builtin else TRANSFORM

    @property
    def predictor(self) -> str | None:
        return None if self.builtin else PREDICTOR

    @property
    def images(self) -> list[Path]:
        return [] if self.builtin else [Path(name) for name, _ in self.entries]

    def weights(self) -> list[float]:
        """multistyle26's 26 style weights, or one weight per style image."""
        if not self.builtin:
            return [w for _, w in self.entries]
        out = [0.0] * STYLE_COUNT
        for name, w in self.entries:
            out[STYLE_NAMES.index(name)] += w
        return out

    @property
    def label(self) -> str:
        """Short, file-name safe: `style-3`, `style-3+style-7`, `starry`."""
        names = [n if self.builtin else Path(n).stem for n, _ in self.entries]
        return re.sub(r"[^\w+.-]+", "_", "+".join(names))[:80]

    def describe(self) -> str:
        """For the metadata: every style with its share."""
        names = [n if self.builtin else Path(n).name for n, _ in self.entries]
        if len(names) == 1:
            return names[0]
        return ", ".join(f"{n} {w:.0%}" for n, (_, w) in zip(names, self.entries))


def _builtin_name(text: str) -> str | None:
    m = re.fullmatch(r"(?:style-)?(\d+)", text.strip())
    if m is None:
        return None
    index = int(m[1])
    if not 0 <= index < STYLE_COUNT:
        raise TesseraError(f"There is no built-in style {text!r}: use style-0 to style-{STYLE_COUNT - 1}.")
    return STYLE_NAMES[index]


def _entry(text: str) -> tuple[bool, str]:
    builtin = _builtin_name(text)
    if builtin is not None:
        return True, builtin
    path = Path(text).expanduser()
    if not path.is_file():
        raise TesseraError(f"The style {text!r} is neither a built-in style (style-0 to "
                           f"style-{STYLE_COUNT - 1}) nor an image file.")
    return False, str(path)


def parse_mix(text: str) -> list[tuple[str, float]]:
    """`3=0.5,style-7=0.5,paint.jpg=1` → [(text, weight)], weights checked but not normalised."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.rpartition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not name or value < 0:
            raise TesseraError(f"--mix takes NAME=WEIGHT pairs with weights ≥ 0, e.g. 3=0.5,7=0.5; got {part!r}.")
        out.append((name, value))
    if not out:
        raise TesseraError("--mix is empty; give NAME=WEIGHT pairs, e.g. 3=0.5,7=0.5.")
    return out


def choose_style(style: str | None, mix: str | None) -> StyleChoice:
    wanted = ([(style, 1.0)] if style else []) + (parse_mix(mix) if mix else [])
    if not wanted:
        raise TesseraError("Choose a style with --style NAME|INDEX|IMAGE (or --mix NAME=W,…).")
    resolved = [(*_entry(name), w) for name, w in wanted]
    kinds = {builtin for builtin, _, _ in resolved}
    if len(kinds) > 1:
        raise TesseraError("Built-in styles and style images can't be mixed (they are different "
                           "networks); mix built-in styles together, or style images together.")
    merged: dict[str, float] = {}
    for _, name, w in resolved:
        merged[name] = merged.get(name, 0.0) + w
    total = sum(merged.values())
    if total <= 0:
        raise TesseraError("The style weights add up to 0; give at least one a positive weight.")
    entries = tuple((name, w / total) for name, w in merged.items() if w > 0)
    return StyleChoice(kinds.pop(), entries)
