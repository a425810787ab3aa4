"""Data safety: ``flask storefront backup`` then ``restore`` brings the data back
(SQLite always; PostgreSQL through pg_dump/pg_restore when the suite runs on
PostgreSQL), backups are private files, and a tampered archive cannot write
outside the upload folder."""
from __future__ import annotations

import io
import os
import stat
import tarfile
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text

from storefront.accounts.models import User
from storefront.backup import restore_uploads
from storefront.catalog.models import Product
from storefront.extensions import db
from tests.conftest import is_postgres, make_test_app, pushed_app, scratch_postgres_url
from tests.factories import make_product, make_user

IMAGE = "0123456789abcdef0123456789abcdef.webp"


@contextmanager
def scratch_shop(tmp_path, url: str):
    shop = make_test_app(url, str(tmp_path / "instance"), STOREFRONT_UPLOAD_DIR=str(tmp_path / "uploads"))
    with pushed_app(shop):
        db.create_all()
        try:
            yield shop
        finally:
            db.session.remove()
            db.engine.dispose()


def _roundtrip(shop, tmp_path, suffix: str):
    uploads = tmp_path / "uploads"
    uploads.mkdir(exist_ok=True)
    (uploads / IMAGE).write_bytes(b"RIFF-image-bytes")
    user = make_user(name="Before")
    product = make_product(name="Kept")
    user_id, product_id = user.id, product.id
    runner = shop.test_cli_runner()
    result = runner.invoke(args=["storefront", "backup", str(tmp_path / "backups")])
    assert result.exit_code == 0, result.output
    made = [line for line in result.output.splitlines() if line.strip()]
    backup_file = next(p for p in made if p.endswith(suffix))
    assert any(p.endswith("-uploads.tar.gz") for p in made)
    for path in made:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path  # personal data: owner only

    # Damage after the backup.
    db.session.get(User, user_id).name = "After"
    db.session.delete(db.session.get(Product, product_id))
    make_user(name="Created after the backup")
    db.session.commit()
    (uploads / IMAGE).unlink()

    result = runner.invoke(args=["storefront", "restore", backup_file, "--yes"])
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert db.session.get(User, user_id).name == "Before"
    assert db.session.get(Product, product_id).name == "Kept"
    names = db.session.execute(select(User.name)).scalars().all()
    assert "Created after the backup" not in names
    assert (uploads / IMAGE).read_bytes() == b"RIFF-image-bytes"


def test_sqlite_backup_and_restore(tmp_path):
    with scratch_shop(tmp_path, "sqlite:///" + str(tmp_path / "shop.db")) as shop:
        _roundtrip(shop, tmp_path, ".sqlite3")


def test_restore_without_confirmation_changes_nothing(tmp_path):
    with scratch_shop(tmp_path, "sqlite:///" + str(tmp_path / "shop.db")) as shop:
        make_user(name="Stays")
        runner = shop.test_cli_runner()
        made = runner.invoke(args=["storefront", "backup", str(tmp_path / "b"), "--no-uploads"]).output.split()
        make_user(name="Also stays")
        result = runner.invoke(args=["storefront", "restore", made[0]], input="n\n")
        assert result.exit_code != 0
        db.session.remove()
        assert "Also stays" in db.session.execute(select(User.name)).scalars().all()


def test_a_damaged_backup_is_refused(tmp_path):
    with scratch_shop(tmp_path, "sqlite:///" + str(tmp_path / "shop.db")) as shop:
        make_user(name="Stays")
        bad = tmp_path / "bad.sqlite3"
        bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
        result = shop.test_cli_runner().invoke(args=["storefront", "restore", str(bad), "--yes"])
        assert result.exit_code != 0
        db.session.remove()
        assert db.session.execute(select(User.name)).scalars().all() == ["Stays"]


def test_a_tampered_upload_archive_cannot_escape(tmp_path):
    archive = tmp_path / "evil-uploads.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("../escaped.webp", "/tmp/absolute-escape.webp", "sub/" + IMAGE, "notours.html", IMAGE):
            data = b"x"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("ffffffffffffffffffffffffffffffff.webp")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    target = tmp_path / "uploads"
    assert restore_uploads(archive, target) == 1
    assert sorted(os.listdir(target)) == [IMAGE]
    assert not (tmp_path / "escaped.webp").exists()
    assert not os.path.exists("/tmp/absolute-escape.webp")


@pytest.mark.postgres
@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL backup needs STOREFRONT_TEST_DATABASE_URL")
def test_postgres_backup_and_restore(tmp_path):
    with scratch_shop(tmp_path, scratch_postgres_url("backup")) as shop:
        _roundtrip(shop, tmp_path, ".pgdump")
        assert db.session.execute(text("SELECT count(*) FROM users")).scalar() == 1
