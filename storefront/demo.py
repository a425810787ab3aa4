"""The demo shop: migrated and seeded on the first ``python wsgi.py``."""
from __future__ import annotations


def seed_demo() -> bool:
    """Seed the demo shop when the database has no products; True if seeded."""
    return False


def prepare_demo(app) -> None:
    """Upgrade the schema, seed on first start and print the demo logins."""
    from flask_migrate import upgrade

    upgrade()
    seed_demo()


def start_background_worker(app) -> None:
    """Run sweeps and outbox delivery in a daemon thread for the single-process demo."""
