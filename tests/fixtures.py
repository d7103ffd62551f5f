"""Documents of every supported format, made in code (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, pages: list[str], title: str = "", password: str = "") -> Path:
    """A PDF with one text page per item (fpdf2); `password` encrypts it (RC4, user password)."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
        pdf.set_author("Ada Tester")
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    pdf.output(str(path))
    return path


def make_docx(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> Path:
    """A Word document: a Title paragraph, then Heading 1 + paragraphs per section."""
    import docx

    document = docx.Document()
    document.core_properties.author = "Grace Writer"
    document.add_paragraph(title, style="Title")
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def make_html(path: Path, title: str, paragraphs: list[str], author: str = "") -> Path:
    """A web page with navigation, a cookie banner, a script and a footer around the article."""
    meta = f'<meta name="author" content="{author}">' if author else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    path.write_text(
        f"""<!doctype html><html><head><title>{title}</title>{meta}
<script>window.tracking = 1;</script><style>p {{ color: red }}</style></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/about">About us</a></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies.</div>
<article><h1>{title}</h1>{body}</article>
<footer>Copyright 2024 Example Media. All rights reserved. Privacy policy. Contact.</footer>
</body></html>""",
        encoding="utf-8",
    )
    return path
