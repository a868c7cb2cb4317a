"""OPML feed lists (what Feedly, Miniflux, Inoreader and NetNewsWire import and export): parse one into feeds
with their titles and folders, render feeds back into one, and derive feed names. Pure: no I/O.

An outline with an `xmlUrl` is a feed; one without is a folder whose title becomes the category of the feeds
inside it ("News/Europe" for nested folders).
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.errors import PermanentError

CATEGORY_SEPARATOR = "/"


class OpmlInvalid(PermanentError):
    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        self.detail = detail
        super().__init__(f"{source}: not an OPML feed list ({detail})")


@dataclass(frozen=True)
class OpmlFeed:
    title: str
    xml_url: str
    category: str | None = None
    html_url: str | None = None


def _text(outline: ET.Element) -> str:
    return " ".join((outline.get("title") or outline.get("text") or "").split())


def parse_opml(body: bytes | str, source: str = "OPML") -> list[OpmlFeed]:
    """Feeds of an OPML document in document order (nested folders flattened into `category`). Raises
    OpmlInvalid when the document is not XML, has no <body>, or holds an xmlUrl that is not http(s)."""
    try:
        root = ET.fromstring(body)  # expat: no external entities, entity expansion bounded
    except ET.ParseError as exc:
        raise OpmlInvalid(source, f"XML error: {exc}") from exc
    if root.tag != "opml" or root.find("body") is None:
        raise OpmlInvalid(source, f"root element <{root.tag}> is not <opml> with a <body>")
    feeds: list[OpmlFeed] = []

    def walk(node: ET.Element, folders: tuple[str, ...]) -> None:
        for outline in node.findall("outline"):
            url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
            if not url:
                walk(outline, (*folders, _text(outline)) if _text(outline) else folders)
                continue
            if urlsplit(url).scheme not in ("http", "https"):
                raise OpmlInvalid(source, f"feed {url!r} is not an http(s) URL")
            feeds.append(OpmlFeed(title=_text(outline) or url, xml_url=url,
                                  category=CATEGORY_SEPARATOR.join(folders) or None,
                                  html_url=(outline.get("htmlUrl") or "").strip() or None))
            walk(outline, folders)  # some readers nest feeds under feeds; keep them too

    walk(root.find("body"), ())  # type: ignore[arg-type]
    return feeds


def render_opml(feeds: Iterable[OpmlFeed], title: str = "newswatch feeds") -> str:
    """An OPML 2.0 document: feeds without a category at the top, the others in nested folder outlines, in
    the order given."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}

    def folder(path: tuple[str, ...]) -> ET.Element:
        if path not in folders:
            folders[path] = ET.SubElement(folder(path[:-1]), "outline", text=path[-1], title=path[-1])
        return folders[path]

    for feed in feeds:
        path = tuple(p for p in (feed.category or "").split(CATEGORY_SEPARATOR) if p)
        attrs = {"type": "rss", "text": feed.title, "title": feed.title, "xmlUrl": feed.xml_url}
        if feed.html_url:
            attrs["htmlUrl"] = feed.html_url
        ET.SubElement(folder(path), "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def slug(text: str) -> str:
    """A feed name from a title or host: lower-case ASCII letters, digits and hyphens ("Łódź News" -> lodz-news)."""
    ascii_text = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    ascii_text = ascii_text.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:48].strip("-")


def unique_name(title: str | None, url: str, taken: Sequence[str] | set[str]) -> str:
    """A name for a new feed: the slug of its title (else of its URL's host and path), with -2, -3... when
    that name is taken."""
    parts = urlsplit(url)
    base = slug(title or "") or slug(f"{parts.hostname or ''} {parts.path}") or "feed"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name
