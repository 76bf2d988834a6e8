"""Which labels of a result count, and their short names, for sidecar keywords and sort folders.

ImageNet-style labels list synonyms ("tabby, tabby cat"); the first name is the one a person
would file a photo under. A label scoring below the threshold is a guess, not a keyword.
"""

from __future__ import annotations

DEFAULT_MIN_SCORE = 0.2


def short_label(label: str) -> str:
    return label.split(",")[0].strip() or label.strip()


def confident_labels(top: list[dict], min_score: float = DEFAULT_MIN_SCORE) -> list[str]:
    """The short names of the labels scoring at least min_score, best first, without repeats."""
    names = [short_label(t["label"]) for t in top if t["score"] >= min_score]
    return list(dict.fromkeys(names))
