"""HTML to text: the page's main text (trafilatura), its title, headings as sections, code blocks.

Before extraction the page is cleaned: permalink anchors (Sphinx's ¶, MkDocs' and GitHub's
#/🔗 header links) are dropped and inline code becomes plain text, so every `<code>` left in
trafilatura's output is a `<pre>` block, kept whole and marked as code.
"""

from __future__ import annotations

import copy
import re

from ..errors import DocumentError
from .formats import Builder, Extracted, missing

# what a permalink anchor shows: nothing (an icon), a pilcrow, a hash, a section sign, a link
PERMALINK_TEXT = {"", "¶", "#", "§", "🔗", "link", "permalink", "anchor", "¶#"}
PERMALINK_CLASS = re.compile(
    r"\b(headerlink|header-?anchor|heading-?anchor|anchorjs-link|hash-link|permalink|"
    r"anchor-link|anchor)\b"
)
TRAILING_MARKS = re.compile(r"[\s¶§#🔗\u200b]+$")
ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\ufeff]")
INLINE_CODE = ("code", "tt", "kbd", "samp", "var")


def _has_class(name: str) -> str:
    return f"//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]"


HEADERLINK = _has_class("headerlink")
# navigation that generated manuals mark as such: dropped before extraction
PRUNED = "|".join(
    [
        "//nav",
        "//*[@role='navigation']",
        *map(_has_class, ("sphinxsidebar", "related", "navheader", "navfooter", "nav-panel")),
        _has_class("mini-toc"),
        # texinfo: the Next/Previous/Up line above each node, and its menus
        "//div[@class='header'][.//a[@rel='next' or @rel='prev' or @rel='up']]",
        "//table[@class='menu']",
    ]
)
# what is not main text when a page is checked for any (or read without trafilatura)
NAVIGATION = "|".join(
    [PRUNED, "//header|//footer|//aside|//menu|//button|//select"]
    + ["//*[@role='banner' or @role='contentinfo' or @role='search']"]
)
NOT_TEXT = "//script|//style|//noscript|//template|//svg|//head"
BLOCK_TAGS = tuple(
    "p div li dt dd td th tr pre blockquote section article".split()
    + "h1 h2 h3 h4 h5 h6 br table ul ol dl".split()
)
CONTAINERS = ("main", "list", "item", "quote", "div", "table", "cell", "body", "doc")
ONLY_NAVIGATION = (
    "the page holds no main text, only navigation (menus, links, headers and footers); "
    "nothing to index. Add the page that holds the text"
)


def read_html(raw: bytes, text: str, path: str) -> Extracted:
    """The main text of a web page (trafilatura drops navigation, ads, scripts), with its title
    (og:title or <title>), headings as sections, <pre> blocks as code, and author/date/outlet
    when the page says them."""
    try:
        import trafilatura
        from lxml import etree
        from trafilatura.utils import load_html
    except ImportError:
        raise missing("trafilatura", path) from None
    tree = load_html(text) if text.strip() else None
    if tree is None:
        raise DocumentError(path, "no readable text was found in the page")
    title = page_title(tree)
    _drop_permalinks(tree)
    if not _text_outside_links(tree):
        raise DocumentError(path, ONLY_NAVIGATION)
    _unwrap_inline_code(tree)
    for bad in tree.xpath(PRUNED):
        bad.drop_tree()
    headings = source_headings(tree)
    xml = None
    for favor_recall in (False, True):
        xml = trafilatura.extract(
            copy.deepcopy(tree),
            output_format="xml",
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_recall=favor_recall,
            deduplicate=False,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
        if xml:
            break
    out = Extracted()
    builder = Builder()
    if xml:
        root = etree.fromstring(xml.encode("utf-8"))
        for key, attr in (("author", "author"), ("date", "date"), ("outlet", "sitename")):
            if root.get(attr):
                out.metadata[key] = root.get(attr)
        if root.get("source"):
            out.metadata["url"] = root.get("source")
        title = title or _heading_text(root.get("title") or "")
        main = root.find("main")
        blocks: list[tuple[str, str]] = []
        if main is not None:
            _blocks(main, blocks)
        for kind, block in restore_headings(blocks, headings):
            builder.add(block, heading=kind == "head", code=kind == "code")
    if not builder.parts:  # no main text found: the visible text outside navigation
        for block in _visible_blocks(tree):
            builder.add(block)
    if not builder.parts:
        raise DocumentError(path, ONLY_NAVIGATION)
    out.text = builder.text()
    out.sections = builder.sections
    out.code = builder.code
    out.title = title or (builder.sections[0][1] if builder.sections else "")
    return out


def decode_html(raw: bytes) -> str:
    """HTML as text: UTF-8 or UTF-16 with a BOM, else the charset the page declares."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        declared = re.search(rb"charset=[\"']?([A-Za-z0-9_-]+)", raw[:4096])
        try:
            return raw.decode(declared.group(1).decode() if declared else "cp1252", "replace")
        except LookupError:
            return raw.decode("cp1252", errors="replace")


def page_title(tree) -> str:
    """og:title, else <title>: the page's own name, not its first heading."""
    for value in tree.xpath("//meta[@property='og:title' or @name='og:title']/@content"):
        if value.strip():
            return _heading_text(value)
    for element in tree.xpath("//title"):
        value = _heading_text(element.text_content())
        if value:
            return value
    return ""


def _heading_text(text: str) -> str:
    return TRAILING_MARKS.sub("", " ".join(ZERO_WIDTH.sub("", text).split()))


def _drop_permalinks(tree) -> None:
    """Anchors that only link to their own heading: by class, or by what they show."""
    for anchor in tree.xpath("//a"):
        shown = " ".join(ZERO_WIDTH.sub("", anchor.text_content()).split()).lower()
        by_class = PERMALINK_CLASS.search(anchor.get("class") or "")
        own_link = (anchor.get("href") or "").startswith("#") and shown in PERMALINK_TEXT
        if (by_class and shown in PERMALINK_TEXT) or own_link:
            anchor.drop_tree()  # its tail text stays
    for mark in tree.xpath(
        "//*[contains(concat(' ', normalize-space(@class), ' '), ' headerlink ')]"
    ):
        mark.drop_tree()


def _unwrap_inline_code(tree) -> None:
    """Inline code becomes plain text of its sentence; code inside <pre> stays."""
    for tag in INLINE_CODE:
        for element in tree.iter(tag):
            if element.xpath("ancestor::pre") or "\n" in element.text_content():
                continue
            element.drop_tag()


def _blocks(element, out: list[tuple[str, str]]) -> None:
    """Appends `element`'s blocks in order as (kind, text), kind "head", "text" or "code":
    headings, paragraphs, table rows, code blocks; the text of a container outside its blocks
    (a list item's own words) is a paragraph too."""
    run: list[str] = [element.text or ""]

    def flush() -> None:
        out.append(("text", " ".join("".join(run).split())))
        run.clear()

    for child in element:
        tag = child.tag
        if tag in ("head", "p", "row", "code") or tag in CONTAINERS:
            flush()
            if tag == "head":
                out.append(("head", _heading_text(child.xpath("string()"))))
            elif tag == "p":
                out.append(("text", " ".join(child.xpath("string()").split())))
            elif tag == "row":
                cells = (" ".join(c.xpath("string()").split()) for c in child)
                out.append(("text", " | ".join(c for c in cells if c)))
            elif tag == "code":
                out.append(("code", child.xpath("string()")))
            else:
                _blocks(child, out)
        else:
            run.append(child.xpath("string()"))
        run.append(child.tail or "")
    flush()


def source_headings(tree) -> list[tuple[str, str]]:
    """(heading, the words just after it) of each h1-h6 of the page outside navigation, in one
    pass over the page's text in document order."""
    bare = _without_navigation(tree)
    owner = {}  # every element inside a heading -> that heading
    for heading in bare.iter("h1", "h2", "h3", "h4", "h5", "h6"):
        for element in heading.iter():
            owner.setdefault(element, heading)
    found: list[tuple[str, str]] = []
    pending: list[str] = []  # headings waiting for the words after them
    last = None
    for text in bare.xpath("//text()"):
        parent = text.getparent()
        heading = owner.get(parent.getparent() if text.is_tail else parent)
        if heading is not None:
            if heading is not last:
                for br in heading.iter("br"):
                    br.tail = " " + (br.tail or "")
                title = _heading_text(heading.text_content())
                if title:
                    pending.append(title)
                last = heading
        elif text.strip() and pending:
            found += [(title, _words(text)[:40]) for title in pending]
            pending = []
    return found


def _words(text: str) -> str:
    return " ".join(text.split()).lower()


def restore_headings(
    blocks: list[tuple[str, str]], headings: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The blocks with the page's headings that extraction dropped put back, each before the
    block that begins with the words that follow it on the page (trafilatura drops the
    headings of many generated manuals: texinfo, DocBook, gtk-doc)."""
    blocks = [b for b in blocks if b[1].strip()]
    cursor = 0
    for heading, after in headings:
        for j in range(cursor, len(blocks)):
            kind, text = blocks[j]
            if kind == "head" and text == heading:
                cursor = j + 1
                break
            if _words(text).startswith(after):
                if j > 0 and blocks[j - 1][1] == heading:  # kept, as a paragraph
                    blocks[j - 1] = ("head", heading)
                else:
                    blocks.insert(j, ("head", heading))
                    j += 1
                cursor = j  # a heading right after this one goes before the same block
                break
    return blocks


def _without_navigation(tree):
    tree = copy.deepcopy(tree)
    for bad in tree.xpath(f"{NOT_TEXT}|{NAVIGATION}"):
        bad.drop_tree()
    return tree


def _text_outside_links(tree) -> bool:
    """Whether the page says anything outside navigation and links (a page of links is
    navigation, whatever its tags say)."""
    bare = _without_navigation(tree)
    for link in bare.xpath("//a"):
        link.drop_tree()
    return bool(bare.text_content().strip())


def _visible_blocks(tree) -> list[str]:
    """The page's text outside navigation, menus, headers and footers, one block per paragraph,
    list item or cell."""
    tree = _without_navigation(tree)
    for element in tree.iter(*BLOCK_TAGS):
        element.text = "\n\n" + (element.text or "")
        element.tail = "\n\n" + (element.tail or "")
    blocks = re.split(r"\n\s*\n", tree.text_content())
    return [" ".join(b.split()) for b in blocks if b.strip()]
