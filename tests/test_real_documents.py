"""Documents as real tools write them: Sphinx, MkDocs and GitHub HTML, PDFs with an outline,
running headers and hyphenation, Markdown with fenced code; and the bad inputs among them."""

import json
import time

import pytest

from assistant import Assistant, ingest
from assistant.answer.citations import citation_text
from assistant.errors import DocumentError
from assistant.indexing.chunking import chunk_document
from assistant.indexing.files import read_document
from assistant.indexing.pdf_layout import join_hyphenated, strip_running_lines
from assistant.settings import ChunkerSettings

CODE = (
    "import tide\nbuffer = bytearray(4096)\n\ndef high_water(day):\n"
    "    return tide.read(day, buffer)"
)
CODE_HTML = (
    '<span class="kn">import</span> <span class="nn">tide</span>\n'
    '<span class="n">buffer</span> <span class="o">=</span> <span class="nb">bytearray</span>'
    '<span class="p">(</span><span class="mi">4096</span><span class="p">)</span>\n\n'
    '<span class="k">def</span> <span class="nf">high_water</span>(day):\n'
    '    <span class="k">return</span> tide.read(day, buffer)\n'
)
SPHINX = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8" />
<title>Tide tables &#8212; Harbour Handbook 2.1 documentation</title></head><body>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3>
<ul><li><a href="genindex.html">index</a></li><li><a href="index.html">Harbour Handbook</a></li>
</ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper">
<div class="body" role="main">
<section id="tide-tables"><h1>Tide tables<a class="headerlink" href="#tide-tables"
 title="Permalink to this heading">¶</a></h1>
<p>The harbour authority publishes a tide table for every day of the year. The function
<code class="docutils literal notranslate"><span class="pre">tide.read()</span></code> returns
the heights of high and low water in metres, measured at the outer pier gauge.</p>
<section id="reading-the-table"><h2>Reading the table<a class="headerlink"
 href="#reading-the-table" title="Permalink to this heading">¶</a></h2>
<p>Each row of the table gives the time of high water, the time of low water and the
difference between them, which pilots use to plan the passage of deep ships.</p>
<p>For example:</p>
<div class="highlight-python3 notranslate"><div class="highlight">
<pre><span></span>{CODE_HTML}</pre>
</div></div>
<dl class="py function"><dt class="sig sig-object py" id="tide.read">
<span class="sig-name descname"><span class="pre">tide.read</span></span>(day, buffer)<a
 class="headerlink" href="#tide.read" title="Permalink to this definition">¶</a></dt>
<dd><p>Reads the table for one day into the buffer and returns the number of entries read.
The buffer must hold at least 4096 bytes or the call fails with an error.</p></dd></dl>
</section></section>
<div class="clearer"></div></div></div></div>
<div class="sphinxsidebar" role="navigation" aria-label="main navigation">
<div class="sphinxsidebarwrapper"><h3>Table of Contents</h3>
<ul><li><a class="reference internal" href="#">Tide tables</a></li></ul>
<h4>Previous topic</h4><p class="topless"><a href="locks.html">Lock gates</a></p>
<div id="searchbox" role="search"><h3 id="searchlabel">Quick search</h3>
<form class="search" action="search.html"><input type="text" name="q" /></form></div>
</div></div></div>
<div class="footer">&#169; Copyright 2024, Harbour Authority. Created using Sphinx 5.3.0.</div>
</body></html>"""


def chunks_of(doc, fake_embedder):
    settings = ChunkerSettings(window=fake_embedder.window)
    chunks = chunk_document(doc, fake_embedder.count_tokens, settings)
    for chunk in chunks:  # the invariant every citation rests on
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.n_tokens <= fake_embedder.window
    return chunks


def test_sphinx_page_title_sections_and_code(tmp_path, fake_embedder):
    path = tmp_path / "tides.html"
    path.write_text(SPHINX, encoding="utf-8")
    doc = read_document(path, "tides")
    assert doc.title == "Tide tables — Harbour Handbook 2.1 documentation"
    assert [s for _, s in doc.sections] == ["Tide tables", "Reading the table"]
    assert "¶" not in doc.text
    for navigation in ("Quick search", "Previous topic", "Copyright", "Navigation"):
        assert navigation not in doc.text
    # inline code stays in its sentence; the <pre> block is one code block, exact and whole
    assert "The function tide.read() returns the heights" in doc.text
    assert [doc.text[s:e] for s, e in doc.code] == [CODE]

    chunks = chunks_of(doc, fake_embedder)
    code = [c for c in chunks if c.kind == "code"]
    assert [c.text for c in code] == [CODE] and code[0].section == "Reading the table"
    for chunk in chunks:
        if chunk.kind == "text":
            assert "bytearray(4096)" not in chunk.text and "def high_water" not in chunk.text
    before = chunks[chunks.index(code[0]) - 1]
    assert before.kind == "text" and before.text.endswith("For example:")  # the lead-in
    assert before.text.startswith("Reading the table\n\nEach row of the table")


def test_code_kind_travels_to_the_answer_json(tmp_path, fake_embedder):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tides.html").write_text(SPHINX, encoding="utf-8")
    ingest([tmp_path / "docs"], tmp_path / "index", embedder=fake_embedder)
    answer = Assistant.open(tmp_path / "index", embedder=fake_embedder).ask(
        "import tide buffer bytearray 4096 def high_water return tide.read", k=5
    )
    passages = json.loads(answer.to_json())["passages"]
    assert passages and {p["kind"] for p in passages} <= {"text", "code"}
    code = [p for p in passages if p["kind"] == "code"]
    assert [p["text"] for p in code] == [CODE]
    assert code[0]["source"]["section"] == "Reading the table"
    assert ", § Reading the table, ¶" in citation_text(code[0]["source"])
    assert all(p["kind"] == "text" for p in passages if "def high_water" not in p["text"])


@pytest.mark.parametrize(
    "anchor",
    [
        '<a class="headerlink" href="#install" title="Permanent link">#</a>',  # MkDocs
        '<a class="headerlink" href="#install" title="Permanent link">¶</a>',  # MkDocs, Sphinx
        '<a id="user-content-install" class="anchor" aria-hidden="true" href="#install">'
        '<svg class="octicon octicon-link" viewBox="0 0 16 16"><path d="M7"></path></svg></a>',
        '<a href="#install" class="hash-link" title="Direct link to Install">\u200b</a>',
        '<a href="#install">🔗</a>',
    ],
)
def test_permalink_anchors_are_dropped(tmp_path, anchor):
    body = " ".join(["The tool installs with one command and needs no configuration."] * 3)
    path = tmp_path / "readme.html"
    path.write_text(
        f"""<html><head><title>Readme | Example</title>
<meta property="og:title" content="Tool readme"></head><body><main><article>
<h2 id="install">{anchor}Install{anchor}</h2><p>{body}</p>
<p>See <a href="#install">Install</a> for the details of the setup on every platform.</p>
</article></main></body></html>""",
        encoding="utf-8",
    )
    doc = read_document(path, "readme")
    assert doc.title == "Tool readme"  # og:title first
    assert [s for _, s in doc.sections] == ["Install"]
    assert doc.text.startswith("Install\n\n")
    assert "See Install for the details" in doc.text  # a link with words stays
    assert not any(mark in doc.text for mark in ("¶", "🔗", "#", "\u200b"))


def test_html_that_is_all_navigation_gets_a_clear_message(tmp_path, fake_embedder):
    links = "".join(f'<li><a href="/{w}">{w.title()}</a></li>' for w in ("home", "news", "about"))
    pages = {
        "nav.html": f"<html><head><title>Menu</title></head><body><nav><ul>{links}</ul></nav>"
        "<footer>Copyright 2024</footer></body></html>",
        "links.html": f"<html><body><ul>{links}</ul></body></html>",
    }
    for name, html in pages.items():
        (tmp_path / name).write_text(html, encoding="utf-8")
        with pytest.raises(DocumentError, match="only navigation"):
            read_document(tmp_path / name, "nav")
    (tmp_path / "good.txt").write_text("Tide notes\n\nHigh water is at noon today.")
    report = ingest(
        [tmp_path / n for n in (*pages, "good.txt")], tmp_path / "index", embedder=fake_embedder
    )
    assert sorted(f.path.rsplit("/", 1)[-1] for f in report.failures) == sorted(pages)
    assert [p.rsplit("/", 1)[-1] for p in report.added] == ["good.txt"]


# ---- PDF ----------------------------------------------------------------------------------


def make_manual(path, pages: int = 2, broken_outline: bool = False):
    """A manual as a typesetter makes one: an outline, a running header, a footer with the page
    number, headings mid-page, and words hyphenated at the end of a line."""
    from fpdf import FPDF

    class Manual(FPDF):
        def header(self):
            self.set_font("helvetica", size=9)
            self.cell(0, 8, "River Manual - Operations Guide", align="C")
            self.ln(12)

        def footer(self):
            self.set_y(-15)
            self.set_font("helvetica", size=9)
            self.cell(0, 8, f"Page {self.page_no()}", align="C")

    pdf = Manual()
    pdf.set_title("River Manual")

    def heading(level, text):
        pdf.start_section(text.split(" ", 1)[1], level=level)
        pdf.set_font("helvetica", "B", 13)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)

    def paragraph(text):
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    heading(0, "1 Introduction")
    paragraph(
        "This manual describes the lock gates on the lower river. The gates are opened "
        "by the harbour master at high tide.\nThe configu-\nration of each gate is kept "
        "in the control room, next to the well-known tide clock."
    )
    pdf.add_page()
    heading(0, "2 Maintenance")
    heading(1, "2.1 Gate inspection")
    paragraph(
        "Inspectors check the hinges every spring and grease them with a water-resistant "
        "compound. A well-\nknown problem is rust on the lower hinges."
    )
    heading(1, "2.2 Flood procedures")
    paragraph(
        "During a flood the gates stay closed and the pumping station runs at full capacity "
        "until the water level falls below four metres."
    )
    for number in range(3, pages + 1):
        pdf.add_page()
        heading(0, f"{number} Appendix {number}")
        paragraph(f"Gauge readings for district {number} are logged every hour by the keeper.")
    pdf.output(str(path))
    if broken_outline:  # entries pointing at a page that is gone, and one found nowhere
        from pypdf import PdfWriter

        writer = PdfWriter(clone_from=str(path))
        writer.add_blank_page()
        writer.add_outline_item(title="Ghost chapter", page_number=len(writer.pages) - 1)
        writer.add_outline_item(title="Not in the text", page_number=0)
        del writer.pages[len(writer.pages) - 1]
        writer.write(str(path))
    return path


def test_pdf_sections_from_the_outline_without_headers_and_hyphens(tmp_path, fake_embedder):
    doc = read_document(make_manual(tmp_path / "manual.pdf"), "manual")
    assert doc.title == "River Manual" and len(doc.pages) == 2
    sections = [(next(n for n, (s, e) in enumerate(doc.pages, 1) if s <= at <= e), title)
                for at, title in doc.sections]  # fmt: skip
    assert sections == [
        (1, "1 Introduction"),
        (2, "2 Maintenance"),
        (2, "2.1 Gate inspection"),
        (2, "2.2 Flood procedures"),
    ]
    assert "River Manual - Operations Guide" not in doc.text and "Page " not in doc.text
    assert "The configuration of each gate" in doc.text  # joined across the line break
    assert "A well-known problem" in doc.text  # written with its hyphen elsewhere: kept
    chunks = chunks_of(doc, fake_embedder)
    flood = next(c for c in chunks if "pumping station" in c.text)
    assert (flood.pages, flood.section) == ((2,), "2.2 Flood procedures")
    assert all(c.pages and len(c.pages) == 1 for c in chunks)

    ingest([tmp_path / "manual.pdf"], tmp_path / "index", embedder=fake_embedder)
    answer = Assistant.open(tmp_path / "index", embedder=fake_embedder).ask(
        "pumping station full capacity flood water level four metres", k=1
    )
    assert ", p. 2, § 2.2 Flood procedures, ¶" in citation_text(answer.passages[0].source)


def test_pdf_outline_pointing_at_missing_pages_is_read_without_them(tmp_path):
    doc = read_document(make_manual(tmp_path / "m.pdf", broken_outline=True), "m")
    titles = [t for _, t in doc.sections]
    assert "Ghost chapter" not in titles and "2.2 Flood procedures" in titles
    # an entry whose heading is not in the text starts with its page; a found one wins there
    assert titles.index("Not in the text") < titles.index("1 Introduction")
    assert dict(doc.sections)[0] == "1 Introduction"


def test_pdf_outline_that_loops_is_read(tmp_path):
    from pypdf import PdfWriter
    from pypdf.generic import NameObject

    writer = PdfWriter(clone_from=str(make_manual(tmp_path / "m.pdf")))
    first = writer._root_object["/Outlines"].raw_get("/First")
    first.get_object()[NameObject("/Next")] = first  # the first entry is its own next
    first.get_object()[NameObject("/First")] = first  # and its own child
    writer.write(str(tmp_path / "loop.pdf"))
    started = time.monotonic()
    doc = read_document(tmp_path / "loop.pdf", "loop")
    assert time.monotonic() - started < 10
    assert "1 Introduction" in [t for _, t in doc.sections] and len(doc.pages) == 2


@pytest.mark.slow  # about 3 s: kept out of the fast lane
def test_a_200_page_pdf_is_read_with_every_page_and_section(tmp_path, fake_embedder):
    path = make_manual(tmp_path / "long.pdf", pages=200)
    started = time.monotonic()
    doc = read_document(path, "long")
    assert time.monotonic() - started < 60
    assert len(doc.pages) == 200 and len(doc.sections) == 202
    assert "Page " not in doc.text and "Operations Guide" not in doc.text
    chunks = chunks_of(doc, fake_embedder)
    last = next(c for c in chunks if "district 200" in c.text)
    assert (last.pages, last.section) == ((200,), "200 Appendix 200")


def test_running_lines_and_hyphens():
    pages = [
        ["Chapter 4: Functions 9", "4.1 Schema", "text of page one", "more"],
        ["10", "body of page two", "continues"],
        ["Chapter 4: Functions 11", "body three", "ends here"],
        ["Chapter 5: Errors 12", "body four", "- 12 -"],
    ]
    assert strip_running_lines(pages) == [
        ["4.1 Schema", "text of page one", "more"],
        ["body of page two", "continues"],
        ["body three", "ends here"],
        ["body four"],
    ]
    assert strip_running_lines([["A single page", "3"]]) == [["A single page"]]
    assert join_hyphenated("declara-\ntions and non-\nempty", {"non-empty"}) == (
        "declarations and non-empty"
    )
    assert join_hyphenated("ASN1-\nType and 3-\nfold", set()) == "ASN1-\nType and 3-\nfold"


def test_pdf_without_text_layer_keeps_the_ocr_message(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 50)  # a drawing, no text: what a scan looks like to a text reader
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(DocumentError, match=r"no extractable text .*ocrmypdf in.pdf out.pdf"):
        read_document(tmp_path / "scan.pdf", "scan")


# ---- Markdown -------------------------------------------------------------------------------

GUIDE = """# Setup guide

Install the tool first.

## Install

Run:

```bash
# fetch the code
git clone https://example.org/tool

cd tool && make
```

Then set the key in the settings file.

~~~
key = value
~~~

## Use

Ask questions.
"""


def test_markdown_fences_are_whole_code_chunks(tmp_path, fake_embedder):
    (tmp_path / "guide.md").write_text(GUIDE)
    doc = read_document(tmp_path / "guide.md", "guide")
    assert doc.title == "Setup guide"
    assert [s for _, s in doc.sections] == ["Setup guide", "Install", "Use"]  # not "# fetch"
    assert [doc.text[s:e] for s, e in doc.code] == [
        "# fetch the code\ngit clone https://example.org/tool\n\ncd tool && make",
        "key = value",
    ]
    chunks = chunks_of(doc, fake_embedder)
    assert [c.text for c in chunks if c.kind == "code"] == [doc.text[s:e] for s, e in doc.code]
    assert all("```" not in c.text and "~~~" not in c.text for c in chunks)


def test_markdown_unclosed_fence_is_code_to_the_end(tmp_path, fake_embedder):
    text = "# Notes\n\nSome prose here.\n\n```python\nprint('a')\n\n## not a heading\nx = 1\n"
    (tmp_path / "notes.md").write_text(text)
    doc = read_document(tmp_path / "notes.md", "notes")
    assert [s for _, s in doc.sections] == ["Notes"]
    assert [doc.text[s:e] for s, e in doc.code] == ["print('a')\n\n## not a heading\nx = 1"]
    assert [c.kind for c in chunks_of(doc, fake_embedder)] == ["text", "code"]


def test_a_document_that_is_all_code(tmp_path, fake_embedder):
    lines = [
        f"    value_{i} = compute(table[{i}], offset={i * 7})  # entry {i}" for i in range(400)
    ]
    (tmp_path / "all.md").write_text("```\n" + "\n".join(lines) + "\n```\n")
    doc = read_document(tmp_path / "all.md", "all")
    assert doc.title == "" and len(doc.code) == 1
    chunks = chunks_of(doc, fake_embedder)
    assert len(chunks) > 5 and all(c.kind == "code" for c in chunks)
    whole = {line.strip() for line in lines}
    for chunk in chunks:  # cut between lines, never inside one
        assert all(line.strip() in whole for line in chunk.text.split("\n"))
    covered = "\n".join(c.text for c in chunks)
    assert [line.strip() for line in covered.split("\n")] == [line.strip() for line in lines]
    html = "<html><head><title>Listing</title></head><body><pre>" + "\n".join(lines) + "</pre>"
    (tmp_path / "all.html").write_text(html + "</body></html>")
    page = read_document(tmp_path / "all.html", "page")
    assert page.title == "Listing" and {c.kind for c in chunks_of(page, fake_embedder)} == {"code"}


def test_an_index_without_chunk_kinds_still_loads(small_index, fake_embedder):
    from assistant.schema import Chunk

    old = {
        "chunk_id": 0,
        "doc_id": "d",
        "title": "T",
        "path": "p",
        "text": "x",
        "start": 0,
        "end": 1,
        "paragraphs": [1],
        "n_tokens": 3,
    }
    assert Chunk.from_dict(old).kind == "text"
    answer = Assistant.open(small_index, embedder=fake_embedder).ask("Who condemned the PKK?")
    assert all(p["kind"] == "text" for p in answer.to_dict()["passages"])


TEXINFO = """<html><head><title>Simple Example (libtide: the tide library)</title></head>
<body lang="en"><div class="section" id="Simple-Example">
<div class="header"><p>Next: <a href="Types.html" rel="next">Types</a>, Previous:
<a href="Basics.html" rel="prev">The Basics</a>, Up: <a href="Using.html" rel="up">Using</a>
[<a href="Index.html" rel="index">Index</a>]</p></div><hr>
<span id="Simple-Example-1"></span><h3 class="section">2.2 Simple Example</h3>
<p>Here is a trivial example that reads the tide table for one day and prints the height of
high water at the outer pier gauge, in metres.</p>
<div class="example"><pre class="example">#include &lt;tide.h&gt;

int main(void)
{
  return tide_print(tide_read(1));
}
</pre></div>
<h4 class="subsection">2.2.1 Building it</h4>
<p>Compile the example with the library's flags and link it against the tide library, then run
it from the directory that holds the tables.</p>
</div></body></html>"""


def test_generated_manual_headings_are_kept(tmp_path, fake_embedder):
    (tmp_path / "simple.html").write_text(TEXINFO, encoding="utf-8")
    doc = read_document(tmp_path / "simple.html", "simple")
    assert doc.title == "Simple Example (libtide: the tide library)"
    assert [s for _, s in doc.sections] == ["2.2 Simple Example", "2.2.1 Building it"]
    assert "Next:" not in doc.text and "Previous" not in doc.text
    assert [doc.text[s:e] for s, e in doc.code] == [
        "#include <tide.h>\n\nint main(void)\n{\n  return tide_print(tide_read(1));\n}"
    ]
    chunks = chunks_of(doc, fake_embedder)
    building = next(c for c in chunks if "Compile the example" in c.text)
    assert building.section == "2.2.1 Building it"


def test_restore_headings_puts_dropped_headings_back_in_order():
    from assistant.indexing.html import restore_headings

    blocks = [("text", "Intro words here."), ("text", "Usage"), ("text", "Run it daily.")]
    headings = [("Overview", "intro words"), ("Usage", "run it"), ("Details", "nothing here")]
    assert restore_headings(blocks, headings) == [
        ("head", "Overview"),
        ("text", "Intro words here."),
        ("head", "Usage"),  # kept as a paragraph: made a heading, not repeated
        ("text", "Run it daily."),
    ]
    # two headings in a row land in their order before the same block
    assert restore_headings([("text", "Body.")], [("A", "body."), ("B", "body.")]) == [
        ("head", "A"),
        ("head", "B"),
        ("text", "Body."),
    ]


def test_bare_page_numbers_are_numbers_not_words_of_roman_letters():
    from assistant.indexing.pdf_layout import BARE_NUMBER

    for folio in ("12", "xiv", "IV", "viii", "Page 3", "3 of 10", "- 4 -"):
        assert BARE_NUMBER.fullmatch(folio), folio
    for word in ("mild", "civic", "dim", "lid", "Mill"):
        assert not BARE_NUMBER.fullmatch(word), word
