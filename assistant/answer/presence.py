"""Answer presence: does a passage hold what the question asks for, or only share its topic?

The topic confidence (retrieval.py) says how close the passages are to the question. Presence
reads the question's focus, the words that name what is asked about (not its filler: question
words, "take place", "mention"), and checks each against the passage: the same word or stem,
a typo of it, or a word close in meaning (cosine of the single-word vectors). A question that
asks "when" / "how many" / "who" / "where" also needs an answer of that kind in the passage's
best sentences. These signals and the topic confidence are combined by a logistic model fitted
on question sets (scripts/calibrate_presence.py); its coefficients live in RetrievalSettings.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..schema import Coverage
from ..words import STOPWORDS, WORD, stem

# Words that shape a question without naming what it asks about.
FILLER = frozenset(
    """happen happened happens happening take took taken takes taking place places occur
    occurred mention mentioned mentions mentioning describe described describes explain
    explained explains according document documents article text passage passages source
    report reported reports state stated states call called named name kind type sort thing
    things way ways give gave given get gets got make makes made go goes went come came involve
    involved role regarding related relate concerning exactly actually really anything
    something someone somebody many much example examples mean means meant refer refers info
    information detail details whether one ones yes per may might must shall able known out
    off away back still even ever never always instead rather myself yourself itself ourselves
    themselves supposed""".split()
)
# Irregular verb forms, so "met" meets "meet" and "wrote" meets "written".
IRREGULAR = {
    form: base
    for base, forms in (
        line.split(":")
        for line in """be:was,were,been,is,are,am become:became begin:began,begun
        bring:brought build:built buy:bought catch:caught choose:chose,chosen come:came
        do:did,done draw:drew,drawn drive:drove,driven eat:ate,eaten fall:fell,fallen
        feel:felt fight:fought find:found fly:flew,flown forget:forgot,forgotten get:got,gotten
        give:gave,given go:went,gone grow:grew,grown have:had,has hear:heard hold:held
        keep:kept know:knew,known lay:laid lead:led leave:left lend:lent lose:lost make:made
        mean:meant meet:met pay:paid ride:rode,ridden rise:rose,risen run:ran say:said see:saw,seen
        seek:sought sell:sold send:sent set:set shoot:shot show:showed,shown sing:sang,sung
        sit:sat sleep:slept speak:spoke,spoken spend:spent stand:stood steal:stole,stolen
        strike:struck swim:swam,swum take:took,taken teach:taught tell:told think:thought
        throw:threw,thrown understand:understood wake:woke,woken wear:wore,worn win:won
        write:wrote,written""".split()
    )
    for form in forms.split(",")
}
SAME_MEANING = 0.75  # a missing term this close to a nearby word (single-word cosine) is covered
# Words that ask for the kind of answer rather than name what it is about: "what year",
# "which city", "how much money" are answered by a year, a city, an amount.
ANSWER_WORDS = frozenset(
    """year years date dates day days month months time times city cities town country
    countries place places location job role position title amount money cost price number
    numbers percentage percent size length long far old big large often figure figures value
    values person people""".split()
)
NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand thousands
    million millions billion billions dozen dozens half quarter percent once twice first second
    third single double several""".split()
)
MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    "saturday sunday yesterday today tomorrow week weeks month months year years decade century "
    "ago since until"
).split()
_DATE = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b|\b(?:" + "|".join(MONTHS) + r")\b", re.I)
_NUMBER = re.compile(r"\d|\b(?:" + "|".join(sorted(NUMBER_WORDS)) + r")\b", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]*[a-z][\w'-]*|\b[A-Z]{2,}\b")

# The kind of answer a question asks for, by its opening words (first match wins).
ANSWER_KINDS = (
    ("date", re.compile(r"\b(?:when|what (?:year|date|day|month|time)|since when|how long ago)\b")),
    (
        "number",
        re.compile(
            r"\bhow (?:many|much|long|far|old|big|large|often|high|tall|deep|wide|fast)\b|"
            r"\bwhat (?:number|percentage|share|proportion|amount|size|length)\b"
        ),
    ),
    ("name", re.compile(r"\b(?:who|whom|whose)\b")),
    ("place", re.compile(r"\bwhere\b|\bwhat (?:country|city|place|region)\b")),
)
KIND_PATTERNS = {"date": _DATE, "number": _NUMBER, "name": _NAME, "place": _NAME}


@dataclass(frozen=True)
class Term:
    text: str  # as the question wrote it
    key: str  # case-folded and stemmed
    proper: bool  # capitalised inside the question, or an acronym


def features(covered: Coverage, topic: float) -> list[float]:
    """The presence model's inputs, in the order of FEATURES."""
    logit = math.log(max(topic, 1e-6) / max(1 - topic, 1e-6))
    return [
        logit,
        covered.share,
        float(covered.missing_proper),
        float(covered.missing_unknown),
        float(len(covered.missing)),
        1.0 - covered.closest_missing,
        float(bool(covered.kind) and not covered.kind_found),
        covered.window_share,
        float(bool(covered.kind) and not covered.window_kind_found),
    ]


FEATURES = (
    "topic_logit",
    "share",
    "missing_proper",
    "missing_unknown",
    "missing",
    "missing_distance",
    "kind_not_found",
    "window_share",
    "window_kind_not_found",
)


def focus_terms(question: str) -> tuple[Term, ...]:
    """The question's words that name what it asks about, each once."""
    terms: dict[str, Term] = {}
    for match in WORD.finditer(question):
        word = match.group()
        folded = word.casefold()
        if folded in STOPWORDS or folded in FILLER or folded in ANSWER_WORDS:
            continue
        if len(folded) < 2 and not folded.isdigit():
            continue
        key = word_key(folded)
        starts_question = not question[: match.start()].strip(" \"'¿¡(")
        proper = (word[0].isupper() and not starts_question) or (len(word) > 1 and word.isupper())
        if key not in terms:
            terms[key] = Term(word, key, proper)
    return tuple(terms.values())


def answer_kind(question: str) -> str:
    folded = question.casefold()
    for kind, pattern in ANSWER_KINDS:
        if pattern.search(folded):
            return kind
    return ""


@lru_cache(maxsize=10_000)
def passage_words(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """A passage's stems, and its distinct content words (for typos and meaning)."""
    words = {w.casefold() for w in WORD.findall(text)}
    content = tuple(sorted(w for w in words if w not in STOPWORDS and not w.isdigit()))
    return frozenset(word_key(w) for w in words), content


def word_key(folded: str) -> str:
    """What two forms of a word share: its stem, after irregular verb forms."""
    return stem(IRREGULAR.get(folded, folded))


def near_typo(a: str, b: str) -> bool:
    """One edit apart (two for long words): a typo, not another word."""
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 2 or a[0] != b[0]:
        return False
    limit = 2 if min(len(a), len(b)) >= 9 else 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


class WordVectors:
    """Single-word vectors from the embedding model, kept between questions."""

    def __init__(self, embedder, size: int = 50_000) -> None:
        self.embedder, self.size = embedder, size
        self._kept: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the server's questions share one cache

    def of(self, words: Sequence[str]) -> np.ndarray:
        if not words:
            return np.zeros((0, 1))
        with self._lock:
            found = {w: self._kept[w] for w in dict.fromkeys(words) if w in self._kept}
        missing = [w for w in dict.fromkeys(words) if w not in found]
        if missing:
            for word, vector in zip(missing, self.embedder.encode(missing), strict=True):
                found[word] = vector.astype(np.float32)
            with self._lock:
                self._kept.update((w, found[w]) for w in missing)
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return np.stack([found[w] for w in words])


def coverage(
    terms: Sequence[Term],
    kind: str,
    text: str,
    best_sentences: Sequence[str],
    idf,
    vectors: WordVectors | None,
    heading: str = "",
    sentences: Sequence[str] = (),
) -> Coverage:
    """What `text` covers of `terms`; `idf(word)` gives a word's idf in the index (None when no
    chunk holds it); `best_sentences` are where an answer of `kind` is looked for and, with
    `vectors`, the words a missing term is compared with in meaning. Words of the passage's
    `heading` (its document's title, its section) count as the passage's own. `sentences`, the
    passage's in order, give the best window of two: the share of the focus it holds, and
    whether an answer of `kind` is in it."""
    stems, content = passage_words(f"{heading}\n{text}" if heading else text)
    matched, missing = [], []
    for term in terms:
        if _holds((stems, content), term):
            matched.append(term)
        else:
            missing.append(term)
    closest = 1.0
    nearby = sorted({w for s in best_sentences for w in passage_words(s)[1]})
    if missing and vectors is not None and nearby:
        ours = vectors.of([t.text.casefold() for t in missing])
        best = (ours @ vectors.of(nearby).T).max(axis=1)
        matched += [t for t, b in zip(missing, best, strict=True) if b >= SAME_MEANING]
        missing = [t for t, b in zip(missing, best, strict=True) if b < SAME_MEANING]
        closest = float(best[best < SAME_MEANING].min()) if missing else 1.0
    weights = {t.key: idf(t.text.casefold()) for t in terms}
    top = max([w for w in weights.values() if w is not None], default=1.0)
    weight = {k: (top + 1.0 if w is None else w) for k, w in weights.items()}
    total = sum(weight.values())
    share = sum(weight[t.key] for t in matched) / total if total else 1.0
    pattern = KIND_PATTERNS.get(kind)
    kind_found = pattern is None or any(pattern.search(s) for s in best_sentences)
    in_heading = {t.key for t in matched if heading and _holds(passage_words(heading), t)}
    window_share, window_kind = share, kind_found
    windows = [" ".join(sentences[i : i + 2]) for i in range(max(1, len(sentences) - 1))]
    if sentences:
        scored = []
        for window in windows:
            words = passage_words(window)
            held = sum(weight[t.key] for t in matched if t.key in in_heading or _holds(words, t))
            scored.append((held / total if total else 1.0, window))
        window_share, best_window = max(scored, key=lambda pair: pair[0])
        window_kind = pattern is None or bool(pattern.search(best_window))
    return Coverage(
        matched=tuple(t.text for t in matched),
        missing=tuple(t.text for t in missing),
        share=share,
        missing_proper=sum(t.proper for t in missing),
        missing_unknown=sum(weights[t.key] is None for t in missing),
        closest_missing=closest,
        kind=kind,
        kind_found=kind_found,
        window_share=window_share,
        window_kind_found=window_kind,
    )


def _holds(words: tuple[frozenset[str], tuple[str, ...]], term: Term) -> bool:
    stems, content = words
    folded = term.text.casefold()
    return term.key in stems or any(near_typo(folded, w) for w in content)


def term_idf(lexical, word: str) -> float | None:
    """The word's idf in the index's BM25 (its rarest stem), 0.0 for a BM25 stopword, None
    when no chunk holds it."""
    idfs = [lexical.idf(s) for s in lexical.terms(word)]
    if not idfs:
        return 0.0
    return None if None in idfs else max(idfs)


def probability(features: Sequence[float], coefficients: Sequence[float]) -> float:
    """The logistic model: coefficients[0] is the bias, the rest pair with FEATURES."""
    z = coefficients[0] + sum(c * f for c, f in zip(coefficients[1:], features, strict=True))
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))


def reason(state: str, best: Coverage | None, topic_refused: bool) -> str:
    """Why the answer got its state, in words a user reads."""
    if topic_refused or best is None:
        return "Nothing in the documents is close to the question."
    named = ", ".join(best.matched[:4])
    lacking = ", ".join(best.missing[:3])
    if state == "answered":
        if best.missing:
            return f"The passage covers {named or 'the question'}; it does not mention {lacking}."
        return "The passage covers every term of the question."
    if best.missing:
        return f"The documents mention {named or 'this subject'}, but nothing about {lacking}."
    if best.kind and not best.kind_found:
        return f"The passage covers the question's terms but states no {best.kind}."
    return "The passage covers the question's terms, but matches the question only loosely."
