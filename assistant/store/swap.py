"""One writer at a time, and an atomic swap: a new version is written to a sibling folder and
exchanged with the old one in one step (renameat2 RENAME_EXCHANGE; two renames where the file
system lacks it). Readers see the old version or the new one, never half of one."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import IndexLockedError
from .guard import creating


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    import fcntl

    lock_path = index_dir.parent / f".{index_dir.name}.lock"
    with creating(index_dir):
        handle = open(lock_path, "w")  # noqa: SIM115 (closed below)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(str(index_dir)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def swap_in(new: Path, index_dir: Path, hook=None) -> None:
    hook = hook or (lambda step: None)
    if not index_dir.exists():
        os.rename(new, index_dir)
    elif _exchange(new, index_dir):  # one atomic step: `new` now holds the old version
        hook("swapped")
        shutil.rmtree(new, ignore_errors=True)
    else:
        old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}-{time.time_ns()}"
        os.rename(index_dir, old)
        hook("renamed-old")
        # a crash between these two renames is undone by recover_interrupted_swap
        os.rename(new, index_dir)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(index_dir.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return done == 0


def interrupted_swap(index_dir: Path) -> Path | None:
    """The old version a writer killed between its two renames left aside, if any: readers
    read it where it is; the next writer (holding the lock) puts it back."""
    if index_dir.exists():
        return None
    olds = sorted(index_dir.parent.glob(f".{index_dir.name}.old-*"))
    return olds[-1] if olds and (olds[-1] / "manifest.json").is_file() else None


def recover_interrupted_swap(index_dir: Path) -> None:
    """Puts back the version an interrupted swap left aside. Only under the writer lock."""
    old = interrupted_swap(index_dir)
    if old is not None:
        with contextlib.suppress(OSError):
            os.rename(old, index_dir)


def remove_leftovers(index_dir: Path) -> None:
    """New folders of interrupted writes, old ones of finished swaps (we hold the lock)."""
    recover_interrupted_swap(index_dir)
    for pattern in (f".{index_dir.name}.new-*", f".{index_dir.name}.old-*"):
        for leftover in index_dir.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
