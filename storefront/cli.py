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
    """One delivery pass: send the notifications that are due (see docs/production.md)."""
    from .notify.delivery import deliver_pending

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
    # SIGTERM (systemd, Docker, a deploy) finishes the running tasks first: Huey's default
    # stops at once, and a delivery pass killed half-way sends its unrecorded messages twice.
    # An idle consumer polls the SQLite queue at most a second apart (Huey's default backs off
    # to 10 s), so a prompt delivery request waits no longer; Redis queues block instead.
    Consumer(huey, workers=workers, periodic=True, graceful_signal="TERM", max_delay=1.0).run()


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


@storefront_cli.command("bench-data")
@click.option("--orders", default=10_000, show_default=True, help="Orders over the last 90 days.")
@click.option("--buyers", type=int, default=None, help="Buyers (default: one per 8 orders, at least 50).")
@click.option("--products", default=200, show_default=True)
@click.option("--seed", default=11, show_default=True)
@click.option("--yes", is_flag=True, help="Add to a database that already has orders.")
@click.option("--aftersales-only", is_flag=True,
              help="Only add after-sales cases to the generated orders that have none (plugin tables needed).")
def bench_data_command(orders: int, buyers: int | None, products: int, seed: int, yes: bool,
                       aftersales_only: bool):
    """Bulk-generate a large realistic shop for benchmarks (docs/performance.md)."""
    from sqlalchemy import text

    from .benchdata import GeneratorConfig, generate_aftersales, generate_with_progress_bar
    from .extensions import db

    if aftersales_only:
        db.session.remove()
        try:
            counts = generate_aftersales(db.engine, db.metadata, seed=seed, log=click.echo)
        except RuntimeError as exc:  # the plugin's tables are missing: say so, no traceback
            raise click.ClickException(str(exc)) from None
        for name, count in sorted(counts.items()):
            click.echo(f"  {name}: {count}")
        return

    # Fake orders in a real shop cannot be told apart afterwards: refuse unless asked twice.
    if not yes and db.session.execute(text("SELECT 1 FROM orders LIMIT 1")).first() is not None:
        raise click.ClickException("this database already has orders; pass --yes to add benchmark data anyway")
    db.session.remove()

    # A progress bar over the orders, then a summary (rows per table, time, rate).
    generate_with_progress_bar(GeneratorConfig(orders=orders, buyers=buyers, products=products, seed=seed),
                               db.engine, db.metadata)


def register_cli(app: Flask) -> None:
    from .backup import backup_command, restore_command

    for command in (backup_command, restore_command):
        storefront_cli.add_command(command)
    if "storefront" not in app.cli.commands:
        app.cli.add_command(storefront_cli)
