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
    ) -> None:
        """`corrupt(reason)` is raised for a line that cannot be parsed when it is read."""
        self.path = path
        self._parse = parse
        self._corrupt = corrupt
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            self._data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        ends = np.flatnonzero(np.frombuffer(self._data, dtype=np.uint8) == ord("\n"))
        if size and (not len(ends) or ends[-1] != size - 1):
            raise ValueError(f"{path.name} does not end with a newline")
        self._starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else ends
        self._ends = ends
        self._items: list[T | None] = [None] * len(ends)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # negative indexes, and IndexError past the end
        item = self._items[i]
        if item is None:
            line = self._data[int(self._starts[i]) : int(self._ends[i])]
            try:
                item = self._items[i] = self._parse(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise self._corrupt(f"line {i + 1} of {self.path.name}: {exc}") from None
        return item

    def __iter__(self) -> Iterator[T]:
        return (self[i] for i in range(len(self)))


class JsonLinesByKey(Mapping, Generic[T]):
    """The same, looked up by a key whose order matches the lines (given, e.g., by a manifest)."""

    def __init__(self, lines: JsonLines[T], keys: list[str], key_of: Callable[[T], str]) -> None:
        if len(keys) != len(lines):
            raise ValueError(f"{lines.path.name} has {len(lines)} lines for {len(keys)} entries")
        self._lines = lines
        self._rows = {key: row for row, key in enumerate(keys)}
        self._key_of = key_of

    def __getitem__(self, key: str) -> T:
        item = self._lines[self._rows[key]]
        if self._key_of(item) != key:
            raise self._lines._corrupt(
                f"{self._lines.path.name} holds {self._key_of(item)!r}, not {key!r}"
            )
        return item

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows
