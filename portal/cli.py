"""Operator commands: flask --app wsgi demo load, apikey create NAME, calendar seed."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.extensions import db
from portal.models import utcnow

demo_cli = AppGroup("demo", help="Demo data.")
apikey_cli = AppGroup("apikey", help="Open311 API keys.")
calendar_cli = AppGroup("calendar", help="The working calendar.")


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo district if the database is empty."""
    from portal.services import demo
    from portal.services.photos import PhotoStore

    added = demo.load(db.session, PhotoStore(current_app.config["UPLOAD_DIR"]), now=utcnow())
    db.session.commit()
    if not added:
        click.echo("The database already has data; nothing loaded.")
        return
    click.echo(", ".join(f"{count} {kind}" for kind, count in added.items()) + " loaded.")


@apikey_cli.command("create")
@click.argument("name")
def apikey_create(name: str) -> None:
    """Create an API key for the named system and print it on the last line."""
    from portal.services import apikeys

    try:
        row, key = apikeys.create(db.session, name, utcnow())
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from error
    db.session.commit()
    click.echo(f"API key {row.id} for {row.name} (prefix {row.prefix}). It is shown only once:")
    click.echo(key)


@calendar_cli.command("seed")
def calendar_seed() -> None:
    """Copy the holidays the chinese-calendar package knows into the calendar."""
    from portal.services import calendar

    added = calendar.seed_from_package(db.session)
    db.session.commit()
    click.echo(f"{added} days added.")


def init_app(app: Flask) -> None:
    """Register the operator command groups."""
    for group in (demo_cli, apikey_cli, calendar_cli):
        app.cli.add_command(group)
