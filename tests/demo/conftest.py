from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    # app.config is shared by the whole session: patch, never assign.
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "STOREFRONT_UPLOAD_DIR", str(folder))
    return folder
