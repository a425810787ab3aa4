import pytest

from ..checkout.helpers import fresh_client


@pytest.fixture
def web(app):
    """A client whose requests each get a fresh app context (no `g` leaking between buyers)."""
    return fresh_client(app)
