from __future__ import annotations

import pytest

from tests.conftest import make_test_app
from tests.factories import login, make_staff, make_user

SAMPLE = "tests.plugins_fixture.sample"


@pytest.fixture(scope="session")
def _plugin_apps(_app, database_url, instance_dir):
    """Two apps with the sample plugin on the test database: two worker processes of one shop."""
    return (make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=[SAMPLE]),
            make_test_app(database_url, instance_dir, STOREFRONT_PLUGINS=[SAMPLE]))


@pytest.fixture
def plugin_apps(_plugin_apps, app):
    return _plugin_apps


@pytest.fixture
def owner(app):
    return make_staff(role="owner")


@pytest.fixture
def staff(app):
    return make_staff()


@pytest.fixture
def buyer(app):
    return make_user()


@pytest.fixture
def owner_client(client, owner):
    login(client, owner)
    return client


@pytest.fixture
def staff_client(client, staff):
    login(client, staff)
    return client


@pytest.fixture
def buyer_client(client, buyer):
    login(client, buyer)
    return client
