"""A worker's recent sign-ins, reused for a few seconds.

Every signed-in request loads its user: by the session cookie's user id and
session token, or by the bearer token's digest (with the token's row). That
one primary-key read was a fifth of the signed-in floor's CPU on SQLite and,
on PostgreSQL, a round trip and the server's work on every request, for rows
that change a few times in an account's life. So a worker keeps, per
session key or token digest, the column values of the user (and token) it
last loaded, and builds the next request's objects from them while the copy
is younger than ``STOREFRONT_IDENTITY_REUSE_SECONDS`` (5 s; ``0`` reads on
every request). A buyer's add-to-cart, coupon, checkout and payment in a
flash sale, or a page and the next, load their user once.

What a sign-in depends on (the account active, its session token, the token
not revoked) is re-checked on every request against the kept values; the
token's expiry against the clock. What retires copies:

- A write this process makes to ``users`` or ``api_tokens`` (ORM or plain SQL
  through SQLAlchemy, counted by ``identity_writes``): deactivation,
  sign-out everywhere, a password change, a revoked token, a profile edit.
  Every copy of the worker goes (they are keyed by session and token, not by
  the row), and its next request for each account reads again. A request
  with such a write open never keeps what it read.
- The write's commit also stamps ``<instance>/identity-changed``; every reuse
  compares that stamp with the copy's (one ``stat``), so the same holds at
  once for every worker of the host.
- Only a writer on another host, or one behind SQLAlchemy's back (``psql``),
  waits out the window: a deactivated account or a revoked token stays
  signed in there for up to ``STOREFRONT_IDENTITY_REUSE_SECONDS``. Set it to
  0 on several hosts that do not share an instance folder, if those seconds
  matter more than the query.

New rows (a registration, a new token) retire nothing: no copy can hold them.
The objects handed out are new each request, persistent in its session, so
lazy loads, changes and commits work on them as on loaded ones; no object
outlives its request.
"""
from __future__ import annotations

import os
import re
import time

from flask import Flask, current_app, has_request_context
from sqlalchemy import bindparam, select
from sqlalchemy.orm.attributes import set_committed_value

from . import joined_rows, reuse_signal
from .accounts.models import ApiToken, User
from .database import get_by_pk
from .extensions import db
from .row_copies import attached, column_values

EXTENSION_KEY = "storefront_identity_reuse"
SIGNAL_FILE = "identity-changed"

#: The clock of the window; tests patch it.
_now = time.monotonic

_WATCHED = re.compile(r"\b(?:users|api_tokens)\b")


def _is_identity_write(statement: str) -> bool:
    if not ("users" in statement or "api_tokens" in statement) or not _WATCHED.search(statement):
        return False
    head = statement.lstrip()[:6].upper()
    if head == "SELECT":
        return False
    if head == "INSERT":  # a new row: no copy holds it, unless an upsert changes one
        upper = statement.upper()
        return "ON CONFLICT" in upper or "ON DUPLICATE" in upper
    return True


def _signal_identity_change() -> None:
    reuse = current_app.extensions.get(EXTENSION_KEY)
    if reuse is not None:
        reuse.signal()


# Writes to ``users`` and ``api_tokens`` this process has made (reuse_signal.WriteWatch).
identity_writes = reuse_signal.WriteWatch("identity", _is_identity_write, _signal_identity_change)


class IdentityReuse(reuse_signal.KeptCopies):
    """Copies keyed ``("session", user id, session token)`` or ``("bearer", digest)``; each
    value is ``(user values, token values or None)``."""

    def __init__(self, app: Flask) -> None:
        super().__init__(identity_writes, os.path.join(app.instance_path, SIGNAL_FILE), lambda: _now())
        self.app = app

    @property
    def seconds(self) -> float:
        return float(self.app.config.get("STOREFRONT_IDENTITY_REUSE_SECONDS") or 0)

    @property
    def limit(self) -> int:
        return int(self.app.config.get("STOREFRONT_IDENTITY_REUSE_ENTRIES") or 0)

    def keep_copy(self, key: tuple, marker: tuple[int, int], user: dict, token: dict | None = None) -> None:
        self.keep({key: (user, token)}, marker, self.seconds, self.limit)


def init_app(app: Flask) -> IdentityReuse:
    reuse = app.extensions.get(EXTENSION_KEY)
    if reuse is None:
        reuse = app.extensions[EXTENSION_KEY] = IdentityReuse(app)
    identity_writes.listen()
    return reuse


def _for_request() -> IdentityReuse | None:
    if not has_request_context():
        return None
    reuse = current_app.extensions.get(EXTENSION_KEY)
    if reuse is None or reuse.seconds <= 0:
        return None
    return reuse


def session_user(user_id: int, session_token: str):
    """The user of a session cookie's (id, token): a recent copy's values or one read.

    The caller still checks the token and that the account is active."""
    reuse = _for_request()
    key = ("session", user_id, session_token)
    if reuse is not None:
        copy, marker = reuse.lookup(key)
        if copy is not None:
            return attached(User, copy[0])
    user = get_by_pk(User, user_id)
    if reuse is not None and user is not None and user.session_token == session_token and user.is_active:
        reuse.keep_copy(key, marker, column_values(user))
    return user


def bearer_token(digest: str):
    """The API token with this digest, its user loaded: a recent copy's values or one read.

    The caller still checks revocation, expiry and that the account is active."""
    reuse = _for_request()
    key = ("bearer", digest)
    if reuse is not None:
        copy, marker = reuse.lookup(key)
        if copy is not None:
            user_values, token_values = copy
            token = attached(ApiToken, token_values)
            set_committed_value(token, "user", attached(User, user_values))
            return token
    token = _read_token(digest)
    if reuse is not None and token is not None and not token.revoked and token.user.is_active:
        reuse.keep_copy(key, marker, column_values(token.user), column_values(token))
    return token


_TOKEN_QUERY: list = []


def _token_query():
    """The bearer token and its user in one (joined) query, built once per process, its
    rows read in Core and built as loaded rows (:mod:`storefront.joined_rows`)."""
    if not _TOKEN_QUERY:
        rows = joined_rows.JoinedEntities(ApiToken, User)
        token, user = ApiToken.__table__, User.__table__
        _TOKEN_QUERY.append((rows, select(*rows.columns).join_from(token, user, user.c.id == token.c.user_id)
                                   .where(token.c.token_hash == bindparam("digest"))))
    return _TOKEN_QUERY[0]


def _read_token(digest: str):
    rows, stmt = _token_query()
    session = db.session()
    found = joined_rows.read(session, stmt, {"digest": digest})
    if not found:
        return None
    token, user = rows.objects(session, found[0])
    joined_rows.link(token, "user", user)
    return token
