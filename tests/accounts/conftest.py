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
