"""HTML, PDF and DOCX: extracted text, pages, sections, metadata, and citations that name them."""

import pytest

from assistant import Assistant, ingest
from assistant.answer.citations import citation_text
from assistant.errors import DocumentError
from assistant.indexing.files import read_document
from assistant.schema import Source

from .fixtures import make_docx, make_html, make_pdf

PAGES = [
    "Annual report of the river authority. The first page describes the Danube basin, its "
    "tributaries and the towns along its banks.",
    "Finance. The budget for 2025 is 4.2 million euros, approved by the board in March after a "
    "long debate about flood defences.",
    "Staff. The authority employs 57 engineers and 12 biologists who monitor water quality.",
]


def test_pdf_text_is_read_page_by_page(tmp_path):
    doc = read_document(make_pdf(tmp_path / "r.pdf", PAGES, title="River Report"), "r")
    assert doc.title == "River Report" and dict(doc.metadata)["author"] == "Ada Tester"
    assert len(doc.pages) == 3
    for (start, end), page in zip(doc.pages, PAGES, strict=True):
        assert " ".join(doc.text[start:end].split()) == page
    for start, end in doc.paragraphs:  # no paragraph crosses a page boundary
        assert sum(1 for s, e in doc.pages if s < end and start < e) == 1


def test_answer_on_a_pdf_page_cites_that_page(tmp_path, embedder):
    make_pdf(tmp_path / "r.pdf", PAGES, title="River Report")
    ingest([tmp_path / "r.pdf"], tmp_path / "index", embedder=embedder)
    answer = Assistant.open(tmp_path / "index", embedder=embedder).ask(
        "How much is the budget for 2025?", k=1
    )
    top = answer.passages[0]
    assert "4.2 million euros" in top.text and top.source.pages == (2,)
    assert citation_text(top.source).startswith("River Report — Ada Tester, ")
    assert ", p. 2, ¶" in citation_text(top.source)
    assert answer.to_dict()["passages"][0]["source"]["metadata"]["author"] == "Ada Tester"
    staff = Assistant.open(tmp_path / "index", embedder=embedder).ask(
        "How many engineers does the authority employ?", k=1
    )
    assert staff.passages[0].source.pages == (3,)


def test_docx_headings_become_sections(tmp_path, embedder):
    path = make_docx(
        tmp_path / "memo.docx",
        "Staff Handbook",
        [
            ("Holidays", ["Every employee gets 25 days of paid leave each calendar year."]),
            ("Parking", ["The car park behind the office closes at 10 pm on weekdays."]),
        ],
    )
    doc = read_document(path, "memo")
    assert doc.title == "Staff Handbook"
    assert [title for _, title in doc.sections] == ["Holidays", "Parking"]
    assert dict(doc.metadata)["author"] == "Grace Writer"
    ingest([path], tmp_path / "index", embedder=embedder)
    answer = Assistant.open(tmp_path / "index", embedder=embedder).ask(
        "When does the car park close?", k=1
    )
    source = answer.passages[0].source
    assert source.section == "Parking"
    assert ", § Parking, ¶" in citation_text(source)
    assert doc.text[source.start : source.end] == answer.passages[0].text


def test_html_keeps_the_main_text_and_drops_boilerplate(tmp_path):
    paragraphs = [
        "The old stone bridge over the river reopened on Monday after eight months of repairs "
        "that cost the city three million euros.",
        "Engineers replaced the cracked arches and strengthened the foundations against the "
        "spring floods that damaged it last year.",
    ]
    path = make_html(tmp_path / "news.html", "Bridge reopens", paragraphs, author="Jane Doe")
    doc = read_document(path, "news")
    assert doc.title == "Bridge reopens"
    for paragraph in paragraphs:
        assert paragraph in doc.text
    for boilerplate in ("cookies", "Copyright", "About us", "tracking", "color: red"):
        assert boilerplate not in doc.text
    assert dict(doc.metadata).get("author") == "Jane Doe"


def test_markdown_headings_are_sections(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("# Guide\n\n## Install\n\nRun the script.\n\n## Use\n\nAsk questions.\n")
    doc = read_document(path, "guide")
    assert [title for _, title in doc.sections] == ["Guide", "Install", "Use"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: make_pdf(p, ["Secret plans"], password="pw"), "protected by a password"),
        (lambda p: p.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage"), "PDF"),
        (lambda p: p.write_bytes(b"not a pdf at all, just text"), "PDF"),
    ],
)
def test_encrypted_and_broken_pdfs_get_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.pdf"
    make(path)
    with pytest.raises(DocumentError, match=message) as error:
        read_document(path, "bad")
    assert "bad.pdf" in str(error.value)


def test_pdf_with_only_an_owner_password_is_read(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.multi_cell(0, 6, "Readable despite the owner password.")
    pdf.set_encryption(owner_password="owner", user_password="")
    pdf.output(str(tmp_path / "owner.pdf"))
    assert "Readable despite" in read_document(tmp_path / "owner.pdf", "o").text


def test_broken_docx_gets_a_clear_error(tmp_path):
    path = tmp_path / "bad.docx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DocumentError, match="damaged or not a Word document"):
        read_document(path, "bad")


def test_citation_names_the_most_precise_location():
    base = dict(doc_id="d", title="T", path="p", paragraphs=(3,), start=10, end=20)
    assert citation_text(Source(**base)) == "T, ¶3, chars 10–20, p"
    assert citation_text(Source(**base, pages=(4,))) == "T, p. 4, ¶3, chars 10–20, p"
    assert citation_text(Source(**base, pages=(4, 5))).startswith("T, pp. 4–5, ")
    assert citation_text(Source(**base, section="Parking")) == "T, § Parking, ¶3, chars 10–20, p"
    with_pages = Source(**base, pages=(11,), section="4.1 ASN.1 schema functions")
    assert citation_text(with_pages) == "T, p. 11, § 4.1 ASN.1 schema functions, ¶3, chars 10–20, p"
    # a section the title already says is not repeated
    web = dict(base, title="json — JSON encoder — Python docs", section="json — JSON encoder")
    assert citation_text(Source(**web)).startswith("json — JSON encoder — Python docs, ¶3")
    assert citation_text(Source(**dict(base, title="Pythonic", section="Python"))).startswith(
        "Pythonic, § Python, "
    )
    # nor an outlet the title already ends with
    outlet = dict(web, metadata=(("outlet", "Python docs"), ("date", "2024-01-02")))
    assert citation_text(Source(**outlet)).startswith(f"{web['title']} — 2024-01-02, ¶3")
    # the Python form (a Source) and the JSON form (a dict) read the same
    assert citation_text(Source(**base, pages=(4,))) == citation_text(
        {**base, "pages": [4], "paragraphs": [3]}
    )


def test_blank_pdf_pages_keep_the_page_numbers_right(tmp_path, embedder):
    from assistant.indexing.chunking import chunk_document
    from assistant.settings import ChunkerSettings

    path = make_pdf(tmp_path / "gap.pdf", ["First page text.", "", "Third page text."])
    doc = read_document(path, "gap")
    assert len(doc.pages) == 3 and doc.pages[1][0] == doc.pages[1][1]
    chunks = chunk_document(doc, embedder.count_tokens, ChunkerSettings())
    assert [(c.text, c.pages) for c in chunks] == [
        ("First page text.", (1,)),
        ("Third page text.", (3,)),
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("```\na\n```\nb\n", ["a"]),
        ("~~~~\n```\nstill code\n~~~~\n", ["```\nstill code"]),  # the other fence is code
        ("````\nx\n```\ny\n````\n", ["x\n```\ny"]),  # a shorter fence does not close
        ("``` not `a` fence\ntext\n", []),  # backticks in the info string: not a fence
        ("   ```python\n   indented\n   ```\n", ["indented"]),
        ("```\n```\n", []),  # an empty block is no paragraph
        ("text\n```\nnever closed\n\nmore\n", ["never closed\n\nmore"]),
    ],
)
def test_markdown_fences(tmp_path, text, code):
    (tmp_path / "f.md").write_text(text)
    doc = read_document(tmp_path / "f.md", "f")
    assert [doc.text[s:e] for s, e in doc.code] == code
    for span in doc.code:
        assert span in doc.paragraphs


def test_the_byline_leaves_out_only_what_the_title_says_in_whole_words():
    from assistant.answer.citations import byline

    source = {
        "title": "Annual Report 2021 — Reuters",
        "metadata": {"author": "Ann", "outlet": "Reuters", "date": "2021"},
    }
    assert byline(source) == "Ann"
