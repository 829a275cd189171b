"""File patterns with date tokens: ``exports/{yyyy}/{MM}/{dd}/customers-*.csv``.

Tokens: ``{yyyy}`` ``{MM}`` ``{dd}`` ``{HH}`` ``{mm}`` ``{ss}``; ``*`` and ``?`` glob within
one path segment. A matched file's date (from its tokens) orders loads: older files first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_TOKENS = {"yyyy": r"(?P<yyyy>\d{4})", "MM": r"(?P<MM>\d{2})", "dd": r"(?P<dd>\d{2})",
           "HH": r"(?P<HH>\d{2})", "mm": r"(?P<mm>\d{2})", "ss": r"(?P<ss>\d{2})"}
_PIECE = re.compile(r"\{(yyyy|MM|dd|HH|mm|ss)\}|\*|\?|[^{*?]+|\{")


@dataclass(frozen=True)
class FilePattern:
    pattern: str

    def __post_init__(self) -> None:
        if self.pattern.startswith("/") or ".." in self.pattern.split("/"):
            raise ValueError(f"file pattern {self.pattern!r} must be relative and without '..'")
        unknown = re.findall(r"\{([^}]*)\}", self.pattern)
        bad = [t for t in unknown if t not in _TOKENS]
        if bad:
            raise ValueError(f"file pattern {self.pattern!r} has unknown date tokens {bad}; "
                             f"use {sorted(_TOKENS)}")

    @property
    def regex(self) -> re.Pattern[str]:
        out = []
        for piece in _PIECE.finditer(self.pattern):
            text = piece.group(0)
            if piece.group(1):
                out.append(_TOKENS[piece.group(1)])
            elif text == "*":
                out.append(r"[^/]*")
            elif text == "?":
                out.append(r"[^/]")
            else:
                out.append(re.escape(text))
        return re.compile("^" + "".join(out) + "$")

    @property
    def glob(self) -> str:
        """A glob that finds every candidate (tokens become wildcards)."""
        return re.sub(r"\*+", "*", re.sub(r"\{(yyyy|MM|dd|HH|mm|ss)\}", "*", self.pattern))

    def match(self, relpath: str) -> bool:
        return self.regex.match(relpath) is not None

    def file_date(self, relpath: str) -> datetime | None:
        m = self.regex.match(relpath)
        if not m or not m.groupdict().get("yyyy"):
            return None
        g = m.groupdict()
        try:
            return datetime(int(g["yyyy"]), int(g.get("MM") or 1), int(g.get("dd") or 1),
                            int(g.get("HH") or 0), int(g.get("mm") or 0), int(g.get("ss") or 0))
        except ValueError:
            return None

    def render(self, when: datetime, fill: str = "") -> str:
        """The file name this pattern gives a pull made at ``when``; ``fill`` replaces ``*``."""
        if "?" in self.pattern or self.pattern.count("*") > 1:
            raise ValueError(f"file pattern {self.pattern!r} has more than one '*' or a '?'; "
                             "cannot name a file with it")
        values = {"yyyy": f"{when.year:04d}", "MM": f"{when.month:02d}", "dd": f"{when.day:02d}",
                  "HH": f"{when.hour:02d}", "mm": f"{when.minute:02d}", "ss": f"{when.second:02d}"}
        named = re.sub(r"\{(yyyy|MM|dd|HH|mm|ss)\}", lambda m: values[m.group(1)], self.pattern)
        return named.replace("*", fill)
