"""``flask storefront ...`` commands."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

storefront_cli = AppGroup("storefront", help="Storefront maintenance commands.")


@storefront_cli.command("sweep")
def sweep_command():
    """Process due deadlines once (unpaid close, auto-confirm, plugin deadlines)."""
    from .orders.sweeps import run_all_sweeps

    counts = run_all_sweeps()
    for key, value in sorted(counts.items()):
        click.echo(f"{key}: {value}")


@storefront_cli.command("deliver")
def deliver_command():
    """Deliver pending notifications from the outbox once."""
    from .notify.services import deliver_pending

    click.echo(f"delivered: {deliver_pending()}")


@storefront_cli.command("worker")
@click.option("--workers", default=2, show_default=True)
def worker_command(workers: int):
    """Run the Huey worker: periodic sweeps and notification delivery."""
    import logging

    from huey.consumer import Consumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from .jobs.queue import register_tasks

    app = current_app._get_current_object()
    huey = app.extensions["storefront"].huey
    register_tasks(huey, lambda: app)
    Consumer(huey, workers=workers, periodic=True).run()


@storefront_cli.command("seed-demo")
def seed_demo_command():
    """Seed the demo shop if the database is empty."""
    from .demo import seed_demo

    created = seed_demo()
    click.echo("demo shop seeded" if created else "database not empty: nothing done")


@storefront_cli.command("create-user")
@click.argument("email")
@click.password_option()
@click.option("--role", type=click.Choice(["buyer", "staff", "owner"]), default="owner", show_default=True)
def create_user_command(email: str, password: str, role: str):
    """Create a user (an owner by default)."""
    from .accounts.services import create_user

    user = create_user(email=email, password=password, name=email.split("@")[0], role=role)
    click.echo(f"created {user.email} ({user.role})")


def register_cli(app: Flask) -> None:
    if "storefront" not in app.cli.commands:
        app.cli.add_command(storefront_cli)
