"""Fixtures of the orders tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def request_ctx(app):
    """Services are called from requests: messages are translated for the caller."""
    with app.test_request_context("/"):
        yield
