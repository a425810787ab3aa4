"""Allow-list sanitising of seller content (nh3), applied on save AND on render.

Running it twice is deliberate: rows written before a rule was tightened (or
by hand in the database) are still cleaned when shown.
"""
from __future__ import annotations

import re

import nh3
from markupsafe import Markup

ALLOWED_TAGS = {"b", "strong", "i", "em", "ul", "ol", "li", "p", "br", "a", "img"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}}
URL_ATTRIBUTES = {("a", "href"), ("img", "src")}
# Their content is dropped, not just the tag (nh3 keeps the text of others).
DROP_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math"}

# Browsers drop tabs and newlines anywhere in a URL and C0 controls/spaces at
# its ends, so "jav&#x09;ascript:" is "javascript:"; compare without them.
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


def safe_url(value: str | None) -> str | None:
    """``value`` if it is an http(s) URL or a shop-relative path ("/..."), else ``None``.

    Protocol-relative ("//host") and backslash tricks ("/\\host") leave the
    site, so they are refused like any other scheme.
    """
    if value is None:
        return None
    compact = _IGNORED_IN_URL.sub("", value)
    if not compact:
        return None
    lowered = compact.lower()
    match = _SCHEME.match(lowered)
    if match:
        if match.group(1) not in ("http", "https") or not re.match(r"^https?://[^/\\]", lowered):
            return None
        return compact
    if lowered.startswith("/") and not lowered.startswith(("//", "/\\")) and "\\" not in lowered:
        return compact
    return None


def safe_image_url(value: str | None) -> str | None:
    """``value`` if it is a shop-relative path ("/media/..."), else ``None``.

    The shop's Content-Security-Policy is ``img-src 'self'``: an image on
    another host would be blocked in the buyer's browser, so it is refused
    when saved and dropped when shown. Images are uploaded (and re-encoded).
    """
    url = safe_url(value)
    return url if url is not None and url.startswith("/") else None


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    if (element, attribute) == ("img", "src"):
        return safe_image_url(value)
    if (element, attribute) in URL_ATTRIBUTES:
        return safe_url(value)
    return value


def clean_html(html: str | None) -> str:
    """The allow-listed subset of ``html`` (a string, still to be marked safe by the caller)."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_html(html: str | None) -> Markup:
    """Sanitised markup for templates: the only way popup bodies reach a page."""
    return Markup(clean_html(html))
