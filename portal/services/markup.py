"""Markdown written by staff, rendered to HTML that is safe to show the public.

Two layers: markdown-it escapes any raw HTML in the source, then nh3 keeps only an
explicit allow-list of tags, attributes and link schemes, whatever the renderer made.
"""

from __future__ import annotations

from html import unescape

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

TAGS = frozenset(
    {
        "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
        "code", "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody",
        "tr", "th", "td",
    }
)  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener nofollow"

_renderer = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def sanitize(html: str) -> Markup:
    """Keep only the allowed tags, attributes and link schemes of an HTML fragment."""
    return Markup(  # noqa: S704  # nosec B704  # cleaned by nh3 against the allow-list
        nh3.clean(
            html,
            tags=set(TAGS),
            attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
            url_schemes=set(URL_SCHEMES),
            link_rel=LINK_REL,
            strip_comments=True,
        )
    )


def render(text: str) -> Markup:
    """Render Markdown to sanitized HTML."""
    # A notice's own title is the page's h1: headings in the body start at h2.
    html = _renderer.render(text or "").replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return sanitize(html)


def plain(text: str, limit: int = 160) -> str:
    """Return the text of rendered Markdown without tags, cut to a length, for summaries."""
    words = " ".join(unescape(nh3.clean(str(render(text)), tags=set())).split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"
