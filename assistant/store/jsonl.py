"""A JSON-lines file read lazily: its lines found by one scan of the mapped file, each line parsed
the first time it is asked for. Loading a 100,000-chunk index thus costs a scan, not 100,000
`json.loads` calls; a question parses only the chunks it looks at."""

from __future__ import annotations

import json
import mmap
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


class JsonLines(Sequence, Generic[T]):
    def __init__(
        self,
        path: Path,
        parse: Callable[[dict], T],
        corrupt: Callable[[str], Exception] = ValueError,
        row_key: str = "",
        first_row: int = 0,
        lines: int | None = None,
    ) -> None:
        """`corrupt(reason)` is raised for a line that cannot be parsed when it is read.
        `row_key`: the parsed dict gets that key set to `first_row` + the line's number.
        `lines`: how many lines the file holds (from a manifest): the file is then mapped and
        scanned on first read, not now (loading an index touches no segment it does not
        read), and a different count is reported through `corrupt` then."""
        self.path = path
        self._parse = parse
        self._corrupt = corrupt
        self._row_key, self._first_row = row_key, first_row
        self._lines = lines
        self._starts = self._ends = np.zeros(0, dtype=np.int64)
        with open(path, "rb") as handle:  # mapped now: readable after a new version replaces it
            size = handle.seek(0, 2)
            self._data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        if lines is None:
            self._scan()
        self._items: list[T | None] = [None] * (len(self._ends) if lines is None else lines)

    def _scan(self) -> None:
        size = len(self._data)
        ends = np.flatnonzero(np.frombuffer(self._data, dtype=np.uint8) == ord("\n"))
        if size and (not len(ends) or ends[-1] != size - 1):
            raise ValueError(f"{self.path.name} does not end with a newline")
        if self._lines is not None and len(ends) != self._lines:
            raise self._corrupt(f"{self.path.name} has {len(ends)} lines, not {self._lines}")
        self._starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else ends
        self._ends = ends
        self._lines = None

    def _line(self, start: int, end: int) -> tuple[int, int]:
        """Byte offsets of lines start..end-1 (the file scanned on first use)."""
        if self._lines is not None:
            try:
                self._scan()
            except ValueError as exc:
                raise self._corrupt(str(exc)) from None
        return int(self._starts[start]), int(self._ends[end - 1]) + 1

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # negative indexes, and IndexError past the end
        item = self._items[i]
        if item is None:
            start, end = self._line(i, i + 1)
            line = self._data[start : end - 1]
            try:
                parsed = json.loads(line)
                if self._row_key:
                    parsed[self._row_key] = self._first_row + i
                item = self._items[i] = self._parse(parsed)
            except (ValueError, KeyError, TypeError) as exc:
                raise self._corrupt(f"line {i + 1} of {self.path.name}: {exc}") from None
        return item

    def __iter__(self) -> Iterator[T]:
        return (self[i] for i in range(len(self)))

    def raw(self, start: int, end: int) -> bytes:
        """Lines start..end-1 as stored, newlines included (copied into a new version)."""
        if start >= end:
            return b""
        first, last = self._line(start, end)
        return bytes(self._data[first:last])


class Joined(Sequence, Generic[T]):
    """Several sequences read as one (an index's segments, in order)."""

    def __init__(self, parts: list[Sequence[T]]) -> None:
        self.parts = parts
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]
        part = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return self.parts[part][i - int(self._offsets[part])]

    def __iter__(self) -> Iterator[T]:
        for part in self.parts:
            yield from part


class JsonLinesByKey(Mapping, Generic[T]):
    """The same, looked up by a key whose order matches the lines (given, e.g., by a manifest)."""

    def __init__(
        self, lines: JsonLines[T] | Joined[T], keys: list[str], key_of: Callable[[T], str]
    ) -> None:
        if len(keys) != len(lines):
            raise ValueError(f"{_name(lines)} has {len(lines)} lines for {len(keys)} entries")
        self._lines = lines
        self._rows = {key: row for row, key in enumerate(keys)}
        self._key_of = key_of

    def __getitem__(self, key: str) -> T:
        item = self._lines[self._rows[key]]
        if self._key_of(item) != key:
            lines = self._lines.parts[0] if isinstance(self._lines, Joined) else self._lines
            raise lines._corrupt(f"{_name(self._lines)} holds {self._key_of(item)!r}, not {key!r}")
        return item

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows


def _name(lines) -> str:
    if isinstance(lines, Joined):
        return lines.parts[0].path.name if lines.parts else "documents.jsonl"
    return lines.path.name
