"""Fixtures for the accounts tests."""
from __future__ import annotations

from tests.conftest import IsolatedClient, new_client  # noqa: F401  (re-exported)



def is_signed_in(client) -> bool:
    """Ask an account page: 200 when signed in, a redirect to sign-in otherwise."""
    response = client.get("/account/profile")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def form_token(client, path: str = "/account/login") -> str:
    from tests.conftest import csrf_token_from

    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return csrf_token_from(response.get_data(as_text=True))


def secure_login(client, user, password: str | None = None, **extra):
    """Sign in through the real form on a CSRF-protected client."""
    from tests.factories import PASSWORD

    data = {"email": user.email, "password": password or PASSWORD,
            "csrf_token": form_token(client), **extra}
    response = client.post("/account/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response


def outbox(kind: str | None = None, to: str | None = None) -> list:
    """Outbox rows (oldest first), optionally of one kind / to one address."""
    from sqlalchemy import select

    from storefront.extensions import db
    from storefront.notify.models import OutboxMessage

    db.session.commit()  # a fresh snapshot: the rows were written by requests
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    if to:
        query = query.where(OutboxMessage.to_address == to)
    return list(db.session.execute(query).scalars())


def mailed_link(kind: str, to: str) -> str:
    """The path of the one link in the last ``kind`` mail to ``to``."""
    import re
    from urllib.parse import urlsplit

    rows = outbox(kind, to)
    assert rows, f"no {kind} mail to {to}"
    links = re.findall(r"https?://\S+", rows[-1].body)
    assert len(links) == 1, links
    parts = urlsplit(links[0])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def without_csrf(html: str) -> str:
    """A page with its CSRF token values blanked (they differ per session)."""
    import re

    html = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1", html)
    return re.sub(r'(<meta name="csrf-token" content=")[^"]+', r"\1", html)
