"""How a question is read: follow-ups in a conversation, and questions with several parts.

Follow-ups: "When was that?" is searched together with the question before it.

A question is a follow-up when it cannot stand alone: it has no content words ("What is it?"),
opens like a continuation ("And the PKK?", "What about Syria?"), or is short and refers back
("Who leads it?"). Then the earlier question (and the one before, when that was a follow-up too)
is searched with it. A question that stands alone is searched as it is.

Parts: "How many deaths is the PKK responsible for, and what's the weather tomorrow?" is partly
about the documents; when the whole is judged unanswerable, each part is judged on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..words import STOPWORDS, WORD_WITH_APOSTROPHE

REFERRING = frozenset(
    """it its it's that this these those they them their theirs there then he him his she her
    hers one ones same such former latter""".split()
)
OPENERS = ("and ", "and,", "what about", "how about", "also ", "but ", "so ")
MAX_EARLIER = 2  # earlier questions a follow-up may draw on
_QUESTION_WORDS = (
    r"(?:what|what's|who|whom|whose|when|where|why|how|which|is|are|was|were|do|does|did|can"
    r"|could|will|would|should)"
)
_PART_BREAK = re.compile(
    r"(?<=[?!.;])\s+|\s*[,;]\s*(?:and|but|also|plus)\s+|\s+(?:and|also)\s+(?="
    + _QUESTION_WORDS
    + r"\b)",
    re.IGNORECASE,
)


def is_follow_up(question: str) -> bool:
    folded = question.casefold().strip()
    words = WORD_WITH_APOSTROPHE.findall(folded)
    content = [w for w in words if w not in STOPWORDS and w not in REFERRING]
    if not content:
        return True
    if folded.startswith(OPENERS) and len(content) <= 4:
        return True
    return len(content) <= 3 and any(w in REFERRING for w in words)


def search_text(question: str, earlier: Sequence[str] = ()) -> str:
    """What to search for `question`, given the earlier questions of the conversation."""
    earlier = [q.strip() for q in earlier if q and q.strip()]
    if not earlier or not is_follow_up(question):
        return question
    context: list[str] = []
    for previous in reversed(earlier):
        context.insert(0, previous)
        if not is_follow_up(previous) or len(context) == MAX_EARLIER:
            break
    return " ".join([*context, question])


def question_parts(question: str) -> list[str]:
    """The question's parts when it asks several things at once, else []."""
    parts = [p.strip(" ,;") for p in _PART_BREAK.split(question)]
    parts = [p for p in parts if len(WORD_WITH_APOSTROPHE.findall(p)) >= 2]
    return parts if len(parts) > 1 else []
