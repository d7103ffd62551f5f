"""Checks of what a user or a program asks: the question, k, the conversation context. One
place, so the CLI, the Python API and the web endpoints give the same messages."""

from __future__ import annotations

from .errors import EmptyQuestionError, InvalidArgumentError, QuestionTooLongError

MAX_QUESTION_CHARS = 20_000
MAX_K = 50


def validate_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}.")


def validate_question(question: str, k: int = 3) -> str:
    """The question, stripped; a clear error for an empty or oversized one or a bad k."""
    if not isinstance(question, str) or not question.strip():
        raise EmptyQuestionError()
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLongError(len(question), MAX_QUESTION_CHARS)
    validate_k(k)
    return question
