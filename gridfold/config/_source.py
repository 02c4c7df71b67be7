"""Where a study file says what: its text, its tables' line spans, and checks that point there.

Shared by every table's parser; every error is a :class:`~gridfold.exceptions.ConfigError`
located at the line of the key it is about.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gridfold.exceptions import ConfigError

__all__ = ["NONE", "Ctx", "Source", "check_keys", "did_you_mean", "expect", "kwargs_text"]

#: TOML has no null: this string stands for Python's None in params, grids and distributions.
NONE = "None"


class Source:
    """The study file's text, to point errors at a line."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = text.splitlines()
        self.model_starts = self._array_starts("model")
        self.data_starts = self._array_starts("data")

    def _array_starts(self, table: str) -> list[int]:
        """0-based lines of every ``[[table]]`` header."""
        header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        return [i for i, line in enumerate(self.lines) if header.match(line)]

    def section(self, table: str) -> tuple[int, int]:
        """0-based [start, end) line range of ``[table]`` (or the whole file)."""
        pattern = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
        for i, line in enumerate(self.lines):
            if pattern.match(line):
                end = next(
                    (j for j in range(i + 1, len(self.lines)) if _is_header(self.lines[j], table)),
                    len(self.lines),
                )
                return i, end
        return 0, len(self.lines)

    def model_section(self, index: int) -> tuple[int, int]:
        """0-based [start, end) line range of the ``index``-th ``[[model]]``.

        It runs to the next ``[[model]]``: a model's ``[model.grid]`` sub-tables are its own.
        """
        if index >= len(self.model_starts):  # inline array of models: search everything
            return 0, len(self.lines)
        start = self.model_starts[index]
        end = (
            self.model_starts[index + 1] if index + 1 < len(self.model_starts) else len(self.lines)
        )
        return start, end

    def data_section(self, index: int) -> tuple[int, int]:
        """0-based [start, end) line range of the ``index``-th ``[[data]]``.

        It runs to the next table header of any kind: a data table has no sub-tables.
        """
        if index >= len(self.data_starts):  # inline array of tables: search everything
            return 0, len(self.lines)
        start = self.data_starts[index]
        end = next(
            (
                j
                for j in range(start + 1, len(self.lines))
                if self.lines[j].lstrip().startswith("[")
            ),
            len(self.lines),
        )
        return start, end

    def find(
        self, needle: str, span: tuple[int, int] | None = None, key: bool = False
    ) -> int | None:
        """1-based line of the first ``needle`` in ``span``; as a key (``needle =``) if ``key``."""
        start, end = span or (0, len(self.lines))
        if key:
            pattern = re.compile(rf"(^|[\s{{,.\[\"']){re.escape(needle)}[\"']?\s*(=|\])")
        else:
            pattern = re.compile(re.escape(needle))
        for i in range(start, end):
            if pattern.search(_strip_comment(self.lines[i])):
                return i + 1
        return None

    def error(self, line: int | None, message: str) -> ConfigError:
        where = f"{self.file}: line {line}: " if line else f"{self.file}: "
        return ConfigError(where + message)


def _is_header(line: str, table: str) -> bool:
    stripped = line.strip()
    if not stripped.startswith("["):
        return False
    inner = stripped.strip("[] ")
    return not inner.startswith(table + ".")


def _strip_comment(line: str) -> str:
    # Good enough to locate keys: a '#' outside quotes starts a comment.
    out, quote = [], ""
    for ch in line:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


class Ctx:
    """Locates errors for one table: its line span in the file."""

    def __init__(self, src: Source, span: tuple[int, int], label: str) -> None:
        self.src = src
        self.span = span
        self.label = label

    def line(self, needle: str | None = None, key: bool = True) -> int | None:
        if needle is not None:
            found = self.src.find(needle, self.span, key=key)
            if found is not None:
                return found
        return self.span[0] + 1 if self.span != (0, len(self.src.lines)) else None

    def error(self, message: str, needle: str | None = None, key: bool = True) -> ConfigError:
        return self.src.error(self.line(needle, key), f"{self.label}: {message}")


def check_keys(table: Mapping[str, Any], allowed: Sequence[str], ctx: Ctx) -> None:
    for key in table:
        if key not in allowed:
            fix = did_you_mean(key, allowed, "remove it or fix its spelling.")
            raise ctx.error(
                f"unknown key {key!r}. Expected one of {list(allowed)}; fix: {fix}", key
            )


def expect(value: Any, types: type | tuple[type, ...], what: str, key: str, ctx: Ctx) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        raise ctx.error(f"{key} must be {what}; got {value!r}. Fix: give {key} as {what}.", key)
    return value


def kwargs_text(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def did_you_mean(name: str, choices: Sequence[str], otherwise: str) -> str:
    """The fix to suggest for a misspelt ``name``: the closest choice, else ``otherwise``."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise
