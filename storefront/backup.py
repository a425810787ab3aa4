"""``flask storefront backup`` / ``restore``: a consistent copy of the shop's data.

* SQLite: SQLite's online backup API copies the live database page by page
  while the shop keeps serving (readers and writers are not stopped; the copy
  is one consistent snapshot), then ``PRAGMA integrity_check`` verifies it.
* PostgreSQL: ``pg_dump --format=custom`` when ``pg_dump`` is on the PATH
  (the password goes through ``PGPASSWORD``, never the command line, where
  ``ps`` would show it); restore with ``pg_restore --clean --if-exists``.
* Uploaded product images (``STOREFRONT_UPLOAD_DIR``) go into a tar file next
  to the database copy; on restore only names the shop itself generates are
  extracted, so a tampered archive cannot write outside the upload folder.

Backups contain personal data (addresses, phone numbers, password hashes):
files are created readable by their owner only (0600).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
# pg_dump/pg_restore run with a fixed argument list and no shell.
import subprocess  # nosec B404
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from .extensions import db


class BackupError(click.ClickException):
    """A backup or restore that cannot be done; the message says why."""


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")


def _private_file(path: Path) -> None:
    os.chmod(path, 0o600)


def _url():
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def sqlite_path(url) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError("Only a SQLite database stored in a file can be backed up.")
    return Path(url.database)


def backup_sqlite(source: Path, target_dir: Path) -> Path:
    """Copy the live SQLite database ``source`` into ``target_dir``; returns the new file."""
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / f"storefront-{_stamp()}.sqlite3"
    part = final.with_suffix(".part")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(part)
    try:
        with dst:
            src.backup(dst, pages=1024)  # in steps: writers are not locked out for the whole copy
        ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        dst.close()
        src.close()
    if ok != "ok":
        part.unlink(missing_ok=True)
        raise BackupError(f"The copy failed its integrity check: {ok}")
    _private_file(part)
    os.replace(part, final)
    return final


def restore_sqlite(backup: Path, target: Path) -> None:
    """Replace the contents of the database ``target`` with ``backup`` (online, in one step)."""
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{backup} is damaged; nothing was restored.")
        db.session.remove()
        db.engine.dispose()  # pooled connections would keep reading the old pages
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _pg_env(url) -> tuple[list[str], dict]:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = ["--dbname", url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)]
    return args, env


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} was not found on the PATH: install the PostgreSQL client tools "
                          "(see docs/security.md, Backups).")
    return tool


def backup_postgres(url, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / f"storefront-{_stamp()}.pgdump"
    part = final.with_suffix(".part")
    args, env = _pg_env(url)
    done = subprocess.run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(part), *args],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        part.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    _private_file(part)
    os.replace(part, final)
    return final


def restore_postgres(url, backup: Path) -> None:
    db.session.remove()
    db.engine.dispose()  # pg_restore --clean drops tables: our idle connections must not hold locks
    args, env = _pg_env(url)
    done = subprocess.run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                           *args, str(backup)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()}")


def backup_uploads(upload_dir: Path, target_dir: Path, stamp_from: Path) -> Path | None:
    if not upload_dir.is_dir():
        return None
    final = target_dir / (stamp_from.name.rsplit(".", 1)[0] + "-uploads.tar.gz")
    with tarfile.open(final, "w:gz") as tar:
        for entry in sorted(upload_dir.iterdir()):
            if entry.is_file() and not entry.name.endswith(".part"):
                tar.add(entry, arcname=entry.name)
    _private_file(final)
    return final


def restore_uploads(archive: Path, upload_dir: Path) -> int:
    """Extract the images of ``archive``; only plain files with names the shop generates."""
    from .catalog.images import FILENAME_RE

    upload_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not FILENAME_RE.match(member.name):
                continue  # links, folders, "../x", absolute paths: never extracted
            data = tar.extractfile(member)
            if data is None:
                continue
            with open(upload_dir / member.name, "wb") as fh:
                shutil.copyfileobj(data, fh)
            count += 1
    return count


def backup(target_dir: Path, *, uploads: bool = True) -> list[Path]:
    url = _url()
    if url.get_backend_name() == "sqlite":
        made = [backup_sqlite(sqlite_path(url), target_dir)]
    elif url.get_backend_name() == "postgresql":
        made = [backup_postgres(url, target_dir)]
    else:
        raise BackupError(f"No backup method for {url.get_backend_name()}.")
    if uploads:
        archive = backup_uploads(Path(current_app.config["STOREFRONT_UPLOAD_DIR"]), target_dir, made[0])
        if archive is not None:
            made.append(archive)
    return made


def restore(backup_file: Path) -> None:
    url = _url()
    if not backup_file.is_file():
        raise BackupError(f"{backup_file} does not exist.")
    if url.get_backend_name() == "sqlite":
        restore_sqlite(backup_file, sqlite_path(url))
    elif url.get_backend_name() == "postgresql":
        restore_postgres(url, backup_file)
    else:
        raise BackupError(f"No restore method for {url.get_backend_name()}.")
    archive = backup_file.with_name(backup_file.name.rsplit(".", 1)[0] + "-uploads.tar.gz")
    if archive.is_file():
        restore_uploads(archive, Path(current_app.config["STOREFRONT_UPLOAD_DIR"]))


@click.command("backup")
@click.argument("target_dir", type=click.Path(file_okay=False, path_type=Path), default="backups")
@click.option("--no-uploads", is_flag=True, help="Leave out the uploaded product images.")
@with_appcontext
def backup_command(target_dir: Path, no_uploads: bool):
    """Copy the database (and uploaded images) into TARGET_DIR, under a timestamped name."""
    for path in backup(target_dir, uploads=not no_uploads):
        click.echo(str(path))


@click.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(backup_file: Path, yes: bool):
    """Replace the shop's data with BACKUP_FILE (made by ``flask storefront backup``). Stop the shop first."""
    if not yes:
        click.confirm("This replaces every order, product and account with the backup. Continue?", abort=True)
    restore(backup_file)
    click.echo(f"Restored {backup_file}.")
