"""The BM25 index: built by bm25s, saved in its layout, loaded and scored without it."""

import subprocess
import sys

import numpy as np
import pytest

from assistant.settings import LexicalSettings
from assistant.store.lexical import LexicalIndex
from assistant.words import STOPWORDS
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


def test_scores_equal_bm25s_own_scoring(tmp_path, texts):
    import bm25s
    import Stemmer

    settings = LexicalSettings()
    ours = LexicalIndex.build(texts, settings)
    ours.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25", settings)
    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
    reference.index(
        bm25s.tokenize(
            texts, stopwords=sorted(STOPWORDS), stemmer=stemmer.stemWords, show_progress=False
        ),
        show_progress=False,
    )
    theirs = bm25s.BM25.load(str(tmp_path / "bm25"))  # our folder is bm25s' layout
    for question in QUESTIONS:
        tokens = bm25s.tokenize(
            [question],
            stopwords=sorted(STOPWORDS),
            stemmer=stemmer.stemWords,
            return_ids=False,
            show_progress=False,
        )[0]
        assert loaded.terms(question) == tokens
        known = [t for t in tokens if t in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(len(texts))
        ceiling = sum(
            float(loaded._idf[loaded.vocab[t]]) if t in loaded.vocab else loaded._unknown_idf
            for t in tokens
        )
        got = loaded.scores(question)
        assert got.shape == (len(texts),)
        np.testing.assert_allclose(got * ceiling, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loaded.scores(question), ours.scores(question))
        if known:
            np.testing.assert_allclose(theirs.get_scores(known), expected, rtol=1e-5)
    assert loaded.scores("PKK attack").argmax() == len(texts) - 2


def test_load_refuses_other_parameters(tmp_path, texts):
    LexicalIndex.build(texts[:20], LexicalSettings()).save(tmp_path / "bm25")
    with pytest.raises(ValueError, match="BM25 parameters"):
        LexicalIndex.load(tmp_path / "bm25", LexicalSettings(k1=2.0))
    np.save(tmp_path / "bm25" / "indptr.csc.index.npy", np.array([0, 1], dtype=np.int32))
    with pytest.raises(ValueError, match="do not fit"):
        LexicalIndex.load(tmp_path / "bm25", LexicalSettings())


@pytest.mark.slow
def test_loading_and_scoring_import_neither_bm25s_nor_scipy(tmp_path, texts):
    LexicalIndex.build(texts, LexicalSettings()).save(tmp_path / "bm25")
    code = (
        "import sys; from pathlib import Path; "
        "from assistant.store.lexical import LexicalIndex, LexicalSettings; "
        f"ix = LexicalIndex.load(Path({str(tmp_path / 'bm25')!r}), LexicalSettings()); "
        "assert ix.scores('PKK attack').max() > 0; "
        "print(sorted(m for m in ('bm25s', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_index_of_empty_texts_scores_zero(texts):
    index = LexicalIndex.build(["", "the of"], LexicalSettings())
    assert index.scores("anything at all").tolist() == [0.0, 0.0]


def test_an_index_saved_by_bm25s_itself_loads(tmp_path, texts):
    """Indexes written before this loader (bm25s.BM25.save, with its empty term) still load."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25(k1=1.2, b=0.4, method="lucene")
    reference.index(
        bm25s.tokenize(
            texts,
            stopwords=sorted(STOPWORDS),
            stemmer=stemmer.stemWords,
            return_ids=False,
            show_progress=False,
        ),
        show_progress=False,
    )
    reference.save(str(tmp_path / "bm25"))
    loaded = LexicalIndex.load(tmp_path / "bm25", LexicalSettings())
    ours = LexicalIndex.build(texts, LexicalSettings())
    for question in QUESTIONS:
        np.testing.assert_allclose(loaded.scores(question), ours.scores(question), rtol=1e-5)


def test_an_empty_vocabulary_saves_and_loads(tmp_path):
    LexicalIndex.build(["", "a"], LexicalSettings()).save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25", LexicalSettings())
    assert loaded.vocab == {} and loaded.scores("anything").tolist() == [0.0, 0.0]
