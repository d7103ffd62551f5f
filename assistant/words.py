"""Words: the one place that says what a word, a stopword and a stem are.

Two tokenisers, each for its purpose:
- `WORD`, runs of letters and digits: what the highlight, "Why this passage?", the near-copy
  check and follow-up detection read;
- `TERM`, bm25s' tokenizer (words of two or more characters): what BM25 indexes. The index's
  vocabulary is built with it, so it changes only with `LexicalSettings.stopwords`.
"""

from __future__ import annotations

import re
from functools import lru_cache

WORD = re.compile(r"[^\W_]+")
WORD_WITH_APOSTROPHE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")  # "it's", "what's": one word
TERM = re.compile(r"(?u)\b\w\w+\b")

# Common function words and question words: they say nothing about which passage answers.
STOPWORDS = frozenset(
    """a an and are as at be been being but by can could did do does doing for from had has have
    having he her here hers him his how i if in into is it its itself me my no not of on or our
    ours she should so than that the their theirs them then there these they this those to was
    we were what when where which while who whom whose why will with would you your yours about
    after also any again against all am both did during each few further many more most much nor
    only other over own same some such through under until up very just tell know say said does
    please""".split()
)


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stopwords, crudely stemmed so 'deaths' meets 'death'."""
    return {stem(w) for w in WORD.findall(text.casefold()) if w not in STOPWORDS}


@lru_cache(maxsize=1 << 17)  # at most ~20 MB; words repeat, so this skips most of the work
def stem(word: str) -> str:
    """A crude suffix stripper for matching a question's words in a passage (not BM25's)."""
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def bm25_terms(text: str, stemmer) -> list[str]:
    """bm25s' tokenizer: lower-cased words of 2+ characters, minus stopwords, stemmed with
    `stemmer` (PyStemmer's, named by `LexicalSettings.stemmer`)."""
    return stemmer.stemWords([w for w in TERM.findall(text.lower()) if w not in STOPWORDS])
