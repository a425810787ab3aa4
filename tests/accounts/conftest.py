"""Fixtures for the accounts tests."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from storefront.extensions import db, limiter


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context.

    The ``app`` fixture keeps an app context pushed for the whole test, and
    Flask reuses a pushed context for requests of the same app: ``g`` (where
    Flask-Login caches the signed-in user) and the database session would
    leak from one request, or one client, to the next. Production never
    shares them, so neither do these tests. The test's own transaction is
    committed first so the request sees its rows and the test reads fresh
    data afterwards (a SQLite read transaction would keep an old snapshot).
    """

    def open(self, *args, **kwargs):
        db.session.commit()
        with self.application.app_context():
            try:
                return super().open(*args, **kwargs)
            finally:
                db.session.remove()


def new_client(app) -> IsolatedClient:
    return IsolatedClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def client(app):
    return new_client(app)


@pytest.fixture
def secure_client(secure_app):
    return new_client(secure_app)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # The limiter's in-memory counters outlive a test; without a reset one
    # test's sign-ins would count against the next one's.
    if getattr(limiter, "initialized", False):
        limiter.reset()
    yield


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
