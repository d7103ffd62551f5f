import pytest

from assistant.errors import DocumentError, NoDocumentsError
from assistant.indexing.files import find_files, paragraph_spans, read_document
from assistant.schema import display_title
from assistant.sentences import sentence_spans

from .conftest import ARTICLE


def test_sentences_keep_abbreviations_and_exact_spans():
    text = (
        "Dr. Smith met J. Doe at 3.5 p.m. in the U.S. Army base. "
        'He said "Yes!" Then left.\n- one\n- two'
    )
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Dr. Smith met J. Doe at 3.5 p.m. in the U.S. Army base.",
        'He said "Yes!"',
        "Then left.",
        "- one",
        "- two",
    ]


def test_article_sentences_do_not_split_on_u_s():
    text = ARTICLE.read_text(encoding="utf-8")
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert not any(s.endswith("U.S.") for s in sentences)
    assert any(s.startswith("U.S. Secretary of State Blinken") for s in sentences)


def test_article_title_and_paragraphs():
    doc = read_document(ARTICLE, "article")
    assert doc.title == "Türkiye, US relaunch counterterrorism consultations"
    texts = [doc.text[s:e] for s, e in doc.paragraphs]
    assert len(texts) == 15
    assert texts[0] == doc.title
    assert texts[1].startswith("Foreign Ministry headquarters in Ankara")
    assert all(t == t.strip() and t for t in texts)
    assert texts[11] == texts[13]  # the article repeats one paragraph


def test_text_without_a_title_line_keeps_its_first_paragraph_whole(tmp_path):
    path = tmp_path / "danube-notes.txt"
    path.write_text(
        "The Danube is the second-longest river in Europe.\nIt rises in the Black Forest.\n\n"
        "It flows into the Black Sea.\n",
        encoding="utf-8",
    )
    doc = read_document(path, "danube")
    assert doc.title == ""
    assert [doc.text[s:e] for s, e in doc.paragraphs] == [
        "The Danube is the second-longest river in Europe.\nIt rises in the Black Forest.",
        "It flows into the Black Sea.",
    ]
    assert display_title(doc.title, doc.path, doc.doc_id) == "danube-notes"
    assert display_title("", "data/corpus.jsonl", "corpus#42") == "corpus #42"
    assert display_title("Danube", "x.txt", "x") == "Danube"


def test_markdown_headings_stand_alone():
    text = "# Guide\nintro line one\nline two\n\n## Part\nbody\n\nlast"
    assert [text[s:e] for s, e in paragraph_spans(text, markdown=True)] == [
        "# Guide",
        "intro line one\nline two",
        "## Part",
        "body",
        "last",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n\n  ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("caf\u00e9 cr\u00e8me".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=message):
        read_document(path, "bad")


def test_huge_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("assistant.indexing.files.MAX_FILE_BYTES", 1000)
    path = tmp_path / "huge.txt"
    path.write_text("word " * 1000)
    with pytest.raises(DocumentError, match="limit"):
        read_document(path, "huge")


def test_utf16_crlf_and_html_are_read_as_text(tmp_path):
    path = tmp_path / "page.txt"
    path.write_bytes("Title\r\n\r\n<script>alert(1)</script> body".encode("utf-16"))
    doc = read_document(path, "page")
    assert doc.text == "Title\n\n<script>alert(1)</script> body"


def test_find_files_walks_folders_and_notes_skips(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("One")
    (tmp_path / "a" / "two.md").write_text("# Two")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "one.txt").write_text("Other one")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    files, notes = find_files([tmp_path])
    assert [doc_id for _, doc_id in files] == ["a-one", "a-two", "b-one"]
    assert any("image.png" in n for n in notes)
    with pytest.raises(DocumentError, match="no such file"):
        find_files([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoDocumentsError):
        find_files([tmp_path / "empty"])
