from __future__ import annotations

import pytest

from tests.factories import cached_demo_pictures


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    # app.config is shared by the whole session: patch, never assign.
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "STOREFRONT_UPLOAD_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _demo_pictures(request):
    # Drawing and encoding the sixty pictures costs seconds per seeding. The test
    # of the seeding itself draws them for real; the others reuse the encoded
    # bytes (still written as files of their own).
    if request.node.originalname == "test_seed_creates_a_complete_shop_once":
        yield
        return
    with cached_demo_pictures():
        yield
