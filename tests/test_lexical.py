"""BM25: per-segment postings over one growing vocabulary, scored with numpy at question time;
the scores equal bm25s' own, however the chunks are split into segments or later removed."""

import subprocess
import sys

import numpy as np
import pytest

from assistant.settings import LexicalSettings
from assistant.store.lexical import LexicalIndex, Postings, Vocabulary
from assistant.words import STOPWORDS, bm25_terms
from tests.conftest import ARTICLE

QUESTIONS = [
    "Who condemned the PKK attack?",
    "What did the ministers say about the talks in Ankara?",
    "running runners ran",
    "PKK PKK attack",  # a repeated term counts twice, as in bm25s
    "the of and",  # stopwords only
    "zzzyzx unknown-term",
]


@pytest.fixture(scope="module")
def texts():
    paragraphs = [p for p in ARTICLE.read_text(encoding="utf-8").split("\n") if p.strip()]
    return paragraphs + ["PKK PKK attack condemned", "Runners were running; a runner ran."]


def segmented(texts: list[str], cuts: list[int], settings=None) -> LexicalIndex:
    """An index of `texts` in segments cut at `cuts`, saved and loaded back as the store does."""
    settings = settings or LexicalSettings()
    vocabulary = Vocabulary()
    stemmer = LexicalIndex.build([], settings)._stemmer
    bounds = [0, *cuts, len(texts)]
    parts = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        ids = vocabulary.id_lists([bm25_terms(t, stemmer) for t in texts[a:b]])
        parts.append(Postings.from_ids(ids, len(vocabulary.ids)))
    return LexicalIndex(vocabulary, parts, settings)


def test_scores_equal_bm25s_own_scoring(texts):
    import bm25s
    import Stemmer

    settings = LexicalSettings()
    ours = LexicalIndex.build(texts, settings)
    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
    reference.index(
        bm25s.tokenize(
            texts, stopwords=sorted(STOPWORDS), stemmer=stemmer.stemWords, show_progress=False
        ),
        show_progress=False,
    )
    for question in QUESTIONS:
        tokens = bm25s.tokenize(
            [question],
            stopwords=sorted(STOPWORDS),
            stemmer=stemmer.stemWords,
            return_ids=False,
            show_progress=False,
        )[0]
        assert ours.terms(question) == tokens
        known = [t for t in tokens if t in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(len(texts))
        ceiling = sum(
            float(ours._idf[ours.vocab[t]]) if t in ours.vocab else ours._unknown_idf
            for t in tokens
        )
        got = ours.scores(question)
        assert got.shape == (len(texts),)
        np.testing.assert_allclose(got * ceiling, expected, rtol=1e-5, atol=1e-6)
    assert ours.scores("PKK attack").argmax() == len(texts) - 2


def test_segments_and_removals_score_as_one_index_of_what_is_left(tmp_path, texts):
    whole = LexicalIndex.build(texts, LexicalSettings())
    split = segmented(texts, [3, 4, 11])  # a one-chunk segment too
    for question in QUESTIONS:
        np.testing.assert_allclose(split.scores(question), whole.scores(question), rtol=1e-6)
    # drop rows 2 and 5..9 of the second-to-last segment's rows, as a rewrite does
    first = split.parts[2]
    keep = np.array([0, 1, 6])
    rewritten = Postings.join([first.take(keep)], len(split.vocabulary.ids))
    rewritten.save(tmp_path)
    loaded = Postings.load(tmp_path, 3, len(split.vocabulary.ids))
    parts = [split.parts[0], split.parts[1], loaded, split.parts[3]]
    left = texts[:4] + [texts[4 + i] for i in keep] + texts[11:]
    after = LexicalIndex(split.vocabulary, parts, LexicalSettings())
    fresh = LexicalIndex.build(left, LexicalSettings())
    for question in [*QUESTIONS, "Daesh Iraq Syria"]:
        np.testing.assert_allclose(after.scores(question), fresh.scores(question), rtol=1e-6)
    gone = set(whole.vocab) - set(fresh.vocab)
    assert gone and not gone & set(after.vocab)  # terms no chunk holds any more: unknown
    assert all(after.document_frequency(t) == fresh.document_frequency(t) for t in fresh.vocab)
    assert np.array_equal(np.diff(after.indptr)[[after.vocab[t] for t in fresh.vocab]],
                          [fresh.document_frequency(t) for t in fresh.vocab])  # fmt: skip


def test_load_refuses_postings_that_do_not_fit(tmp_path, texts):
    index = segmented(texts, [])
    index.parts[0].save(tmp_path)
    size = len(index.vocabulary.ids)
    assert Postings.load(tmp_path, len(texts), size).rows.shape == index.parts[0].rows.shape
    with pytest.raises(ValueError, match="do not fit"):
        Postings.load(tmp_path, len(texts) - 1, size)  # another chunk count
    np.save(tmp_path / "bm25_indptr.npy", np.array([0, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="do not fit"):
        Postings.load(tmp_path, len(texts), size)


def test_the_vocabulary_only_grows_and_is_checked(tmp_path):
    vocabulary = Vocabulary({"a": 0, "b": 1})
    assert vocabulary.id_lists([["b", "c"], ["a"]]) == [[1, 2], [0]] and vocabulary.grown
    vocabulary.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").ids == {"a": 0, "b": 1, "c": 2}
    (tmp_path / "v.json").write_text('{"a": 0, "b": 5}')
    with pytest.raises(ValueError, match="numbering"):
        Vocabulary.load(tmp_path / "v.json")


@pytest.mark.slow
def test_loading_and_scoring_import_neither_bm25s_nor_scipy(tmp_path, texts):
    index = segmented(texts, [5])
    index.parts[0].save(tmp_path)
    index.vocabulary.save(tmp_path / "vocab.json")
    code = (
        "import sys; from pathlib import Path; "
        "from assistant.store.lexical import LexicalIndex, Postings, Vocabulary; "
        "from assistant.settings import LexicalSettings; "
        f"v = Vocabulary.load(Path({str(tmp_path)!r}) / 'vocab.json'); "
        f"p = Postings.load(Path({str(tmp_path)!r}), 5, len(v.ids)); "
        "assert LexicalIndex(v, [p], LexicalSettings()).scores('PKK attack').max() > 0; "
        "print(sorted(m for m in ('bm25s', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_index_of_empty_texts_scores_zero():
    index = LexicalIndex.build(["", "the of"], LexicalSettings())
    assert index.scores("anything at all").tolist() == [0.0, 0.0]
    assert LexicalIndex.build([], LexicalSettings()).scores("anything").tolist() == []
