"""How far an ingest has got, for a progress bar (the CLI) or a status line (the chat): each
stage (reading files, embedding chunks, writing the index) reports `Step`s as it goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

STAGES = {"reading": "files", "embedding": "chunks", "writing": ""}


@dataclass(frozen=True)
class Step:
    stage: str  # "reading" (files), "embedding" (chunks) or "writing" (the new version)
    done: int
    total: int
    elapsed: float  # seconds since the stage began

    @property
    def unit(self) -> str:
        return STAGES.get(self.stage, "")

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    @property
    def rate(self) -> float:
        """Items per second so far (0 until something is done)."""
        return self.done / self.elapsed if self.done and self.elapsed > 0 else 0.0

    @property
    def left(self) -> float | None:
        """Seconds left at the rate so far; None until there is a rate."""
        return (self.total - self.done) / self.rate if self.rate else None

    def describe(self) -> str:
        """One line: "embedding 1,234/2,000 chunks (62%), 410 chunks/s, about 2 s left"."""
        if not self.unit:
            return f"{self.stage} the index" + (f" ({self.elapsed:.1f} s)" if self.finished else "")
        share = f" ({100 * self.done // max(1, self.total)}%)" if self.total else ""
        text = f"{self.stage} {self.done:,}/{self.total:,} {self.unit}{share}"
        if self.rate:
            text += f", {self.rate:,.0f} {self.unit}/s"
        if self.finished:
            return text + f", {self.elapsed:.1f} s"
        if self.left is not None:
            text += f", about {duration(self.left)} left"
        return text


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Tracker:
    """Turns a stage's counts into Steps for `on_step` (nothing when it is None)."""

    def __init__(self, on_step: Callable[[Step], None] | None) -> None:
        self.on_step = on_step

    def stage(self, name: str, total: int) -> Callable[[int], None]:
        """Reports the stage's start; the returned function is told how many more are done."""
        if self.on_step is None:
            return lambda n: None
        started = time.monotonic()
        done = [0]
        self.on_step(Step(name, 0, total, 0.0))

        def advance(n: int) -> None:
            done[0] += n
            self.on_step(Step(name, min(done[0], total), total, time.monotonic() - started))

        return advance
