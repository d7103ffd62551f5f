"""Checks of what a user or a program asks: the question, k, the conversation context. One
place, so the CLI, the Python API and the web endpoints give the same messages. Values may come
raw from JSON, so types are checked too."""

from __future__ import annotations

import re

from .errors import EmptyQuestionError, InvalidArgumentError, QuestionTooLongError

MAX_QUESTION_CHARS = 20_000
MAX_K = 50
MAX_CONTEXT = 20  # earlier questions kept (the last ones); only the last few are searched

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 (newlines and tabs too), DEL, C1
SURROGATES = re.compile(r"[\ud800-\udfff]")  # lone surrogates: not text, cannot be encoded


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_k(k: int) -> int:
    """k itself: an int (not a bool, float or string) from 1 to MAX_K."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(
            f"k must be a whole number from 1 to {MAX_K} (how many passages to show), "
            f"not {_shown(k)}; e.g. 3."
        )
    return k


def clean_text(text: str) -> str:
    """Lone surrogates become U+FFFD, control characters a space; then stripped."""
    return _CONTROLS.sub(" ", SURROGATES.sub("\ufffd", text)).strip()


def validate_question(question: str, k: int = 3) -> str:
    """The question, cleaned (`clean_text`); a clear error for a non-string, an empty or
    oversized question, or a bad k."""
    if question is not None and not isinstance(question, str):
        raise InvalidArgumentError(
            f"The question must be text (a string), not {type(question).__name__}."
        )
    question = clean_text(question or "")
    if not question.replace("\ufffd", " ").strip():
        raise EmptyQuestionError()
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLongError(len(question), MAX_QUESTION_CHARS)
    validate_k(k)
    return question


def validate_context(context) -> tuple[str, ...]:
    """The earlier questions (oldest first), each cleaned like a question; empty ones dropped,
    only the last MAX_CONTEXT kept. None means no context."""
    if context is None:
        return ()
    if not isinstance(context, (list, tuple)):
        raise InvalidArgumentError(
            "context must be a list of the earlier questions (oldest first), not "
            f"{type(context).__name__}; wrap a single question in a list: [question]."
        )
    kept, skipped = [], max(0, len(context) - MAX_CONTEXT)
    for n, item in enumerate(context[skipped:], skipped + 1):
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"context item {n} must be text (a string), not {type(item).__name__}."
            )
        item = clean_text(item)
        if len(item) > MAX_QUESTION_CHARS:
            raise InvalidArgumentError(
                f"context item {n} is {len(item):,} characters long; the limit is "
                f"{MAX_QUESTION_CHARS:,}. Send only the earlier questions, not whole documents."
            )
        if item.replace("\ufffd", " ").strip():
            kept.append(item)
    return tuple(kept)
