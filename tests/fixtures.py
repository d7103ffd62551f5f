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


def make_pdf_bomb(path: Path, pages: int = 100, repeats: int = 20_000) -> Path:
    """A small PDF whose pages all show one flate-compressed content stream of `repeats` text
    operators (22 KB on disk, 480,000 characters of text per page with the defaults)."""
    import zlib

    content = b"BT /F1 12 Tf 72 720 Td " + b"(Ha ha ha ha ha ha ha ha.) Tj " * repeats + b"ET"
    stream = zlib.compress(content, 9)
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, kids),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
    ] + [b"<< /Type /Page /Parent 2 0 R /Contents 3 0 R /Resources %s >>" % font] * pages
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
    out += trailer % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path
