"""What every normaliser does first: a cell as text, and text as ASCII."""

from __future__ import annotations

from typing import Any


def cell_text(value: Any) -> str | None:
    """Stringify a cell; None/NaN/empty -> None. Floats that are whole numbers lose the '.0'."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN from pandas
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


def ascii_text(text: str) -> str:
    from unidecode import unidecode

    return unidecode(text)


REPEATED_CHAR_RE = r"^(.)\1+$"
