"""Per-request memo: values computed once per HTTP request, then reused by every hook call.

A page calls the same hooks many times (each cart line's offer, the cart
priced for the page and again for a template slot...), and several plugins
need the same rows each time. ``request_memo("presale.campaigns")`` is a
dict that lives exactly as long as the current request -- it is kept on the
request object, not on ``g``, because an app context pushed around several
requests (a test, a host application) must not carry one request's rows
into the next. Outside a request (jobs, sweeps, the shell) it is ``None``:
callers then query as before, every time, because nothing tells them when
the data changed.

Keep only data that the request itself does not change, or drop the entry
where the request writes it (:func:`forget_request_memo`).
"""
from __future__ import annotations

from flask import has_request_context, request

_ATTRIBUTE = "_storefront_memo"


def request_memo(key: str) -> dict | None:
    """The current request's memo dict for ``key`` (created empty), or ``None`` outside a request."""
    if not has_request_context():
        return None
    req = request._get_current_object()
    memo = req.__dict__.get(_ATTRIBUTE)
    if memo is None:
        memo = {}
        setattr(req, _ATTRIBUTE, memo)
    entry = memo.get(key)
    if entry is None:
        entry = memo[key] = {}
    return entry


def forget_request_memo(key: str) -> None:
    """Drop ``key``'s memo (call it where the request writes the data it holds)."""
    if has_request_context():
        (request._get_current_object().__dict__.get(_ATTRIBUTE) or {}).pop(key, None)
