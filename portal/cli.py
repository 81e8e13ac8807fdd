"""Operator commands: flask --app wsgi demo load, apikey create NAME, calendar seed."""

from __future__ import annotations

import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.extensions import db
from portal.models import utcnow

demo_cli = AppGroup("demo", help="Demo data.")
apikey_cli = AppGroup("apikey", help="Open311 API keys.")
calendar_cli = AppGroup("calendar", help="The working calendar.")
user_cli = AppGroup("user", help="Staff and supervisor accounts.")
sla_cli = AppGroup("sla", help="Deadlines.")
outbox_cli = AppGroup("outbox", help="E-mails waiting to be sent.")
zones_cli = AppGroup("zones", help="Districts, streets and grid cells.")
spotchecks_cli = AppGroup("spotchecks", help="Monthly random spot checks of construction sites.")
report_cli = AppGroup("report", help="Reports for the office's meetings.")
privacy_cli = AppGroup("privacy", help="Residents' personal data.")
photos_cli = AppGroup("photos", help="Stored photo files.")
backup_cli = AppGroup("backup", help="Backups of the database and the photos.")


@backup_cli.command("create")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def backup_create(path: str | None) -> None:
    """Write the database and its photos to one archive (default backup-<time>.tar)."""
    from pathlib import Path

    from portal.services import backups
    from portal.services.photos import PhotoStore

    now = utcnow()
    target = Path(path or f"backup-{now:%Y%m%d-%H%M%S}.tar")
    store = PhotoStore(current_app.config["UPLOAD_DIR"])
    try:
        manifest = backups.create(db.engine, store, target, now)
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from error
    tables = manifest["tables"]
    click.echo(
        f"Backup written to {target}: {tables.get('cases', 0)} cases, "
        f"{tables.get('case_event', 0)} events, {manifest['photos']} photos, "
        f"{len(manifest['files'])} files."
    )
    for name in manifest["missing"]:
        click.echo(f"missing photo file, not in the backup: {name}", err=True)


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
def backup_restore(path: str, force: bool) -> None:
    """Restore an archive into this portal's empty database and its photo folder."""
    from pathlib import Path

    from portal.services import backups
    from portal.services.photos import PhotoStore

    store = PhotoStore(current_app.config["UPLOAD_DIR"])
    db.session.remove()
    try:
        manifest = backups.restore(db.engine, store, Path(path), force=force)
    except backups.BackupError as error:
        raise click.ClickException(f"not restored: {error}") from error
    tables = manifest["tables"]
    click.echo(
        f"Restored {path} (made {manifest['created_at']}): {tables.get('cases', 0)} cases, "
        f"{tables.get('case_event', 0)} events, {manifest['photos']} photos; "
        f"{manifest['copied']} photo files copied."
    )


@photos_cli.command("cleanup")
@click.option("--dry-run", is_flag=True, help="List what would be deleted, delete nothing.")
@click.option(
    "--grace",
    default=3600.0,
    show_default=True,
    help="Seconds a file may live without a row (uploads in flight write the file first).",
)
def photos_cleanup(dry_run: bool, grace: float) -> None:
    """Purge report forms' pending photos older than a day, delete photo files no row points
    at (left by a crash or by the purge); report rows whose file is gone."""
    from portal.services import photo_cleanup
    from portal.services.photos import PhotoStore

    store = PhotoStore(current_app.config["UPLOAD_DIR"])
    result = photo_cleanup.sweep(db.session, store, grace=grace, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for path in result.orphans:
        click.echo(f"{verb} {path}")
    click.echo(
        f"{result.purged} pending photos purged, "
        f"{len(result.orphans)} orphan files {verb}, {result.recent} too recent to judge, "
        f"{result.referenced} photos referenced, {len(result.missing)} missing."
    )
    for sha in result.missing:
        click.echo(f"missing: {sha}", err=True)
    if result.missing:
        sys.exit(1)


@report_cli.command("monthly")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--output", default="", help="The XLSX file to write (monthly-report-YYYY-MM.xlsx).")
@click.option("--locale", default="zh_Hans_CN", show_default=True, help="Language of headers.")
def report_monthly(month: str, output: str, locale: str) -> None:
    """Write the month's workbook: KPIs, departments, late cases, the red and black list."""
    from zoneinfo import ZoneInfo

    from flask_babel import force_locale

    from portal.services import kpi, monthly_report

    try:
        first = kpi.parse_month(month)
    except kpi.KpiError as error:
        raise click.BadParameter("use YYYY-MM", param_hint="--month") from error
    path = output or f"monthly-report-{month}.xlsx"
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    with force_locale(locale):
        monthly_report.write(db.session, first, utcnow(), tz, path)
    click.echo(f"Monthly report for {month} written to {path}.")


@spotchecks_cli.command("assign")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--per-supervisor", default=3, show_default=True)
@click.option("--seed", type=int, default=None, help="Reproduce a draw.")
@click.option("--force", is_flag=True, help="Redo a month already assigned.")
@click.option("--by", "by_email", default="", help="E-mail of the admin running it.")
def spotchecks_assign(
    month: str, per_supervisor: int, seed: int | None, force: bool, by_email: str
) -> None:
    """Assign each active supervisor sites to check this month, at random but spread.

    Without --by, the operator's login on this server is recorded as who ran it.
    """
    import getpass

    from sqlalchemy import func, select

    from portal.models import User
    from portal.services import spotchecks

    actor, label = None, ""
    if by_email:
        actor = db.session.scalar(
            select(User).where(func.lower(User.email) == by_email.strip().lower())
        )
        if actor is None or actor.role != "admin" or not actor.active:
            raise click.BadParameter("not an active admin account", param_hint="--by")
    else:
        label = getpass.getuser()
    seed = seed if seed is not None else int(utcnow().timestamp())
    try:
        round_ = spotchecks.assign(
            db.session,
            month,
            per_supervisor,
            seed,
            actor,
            utcnow(),
            force=force,
            actor_label=label,
        )
    except spotchecks.SpotCheckError as error:
        raise click.ClickException(f"not assigned: {error.args[0]}") from error
    db.session.commit()
    click.echo(f"{len(round_.assignments)} assignments for {month} (seed {seed}).")


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo district and one account per seat, if the database is empty."""
    from pathlib import Path

    from portal.services import demo
    from portal.services.photos import PhotoStore

    if current_app.config["PORTAL_ENV"] == "production":
        raise click.ClickException("demo data and demo accounts are never loaded in production")
    store = PhotoStore(current_app.config["UPLOAD_DIR"])
    added, logins = demo.load(db.session, store, now=utcnow())
    db.session.commit()
    if not added:
        click.echo("The database already has data; nothing loaded.")
        return
    click.echo(", ".join(f"{count} {kind}" for kind, count in added.items()) + " loaded.")
    accounts_file = Path(current_app.instance_path) / "demo-accounts.txt"
    accounts_file.parent.mkdir(parents=True, exist_ok=True)
    accounts_file.write_text(
        "".join(f"{role}\t{email}\t{pw}\t{seed}\n" for email, role, pw, seed in logins)
    )
    accounts_file.chmod(0o600)
    click.echo(f"Demo accounts (sign in at /login), also written to {accounts_file}:")
    click.echo("  (the last column: the TOTP seed to add to an authenticator app, or none)")
    for email, role, password, seed in logins:
        click.echo(f"  {role:<10} {email:<40} {password:<18} {seed}".rstrip())


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


@calendar_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def calendar_import(path: str) -> None:
    """Import holidays and make-up working days from a CSV file: date,kind,name."""
    from portal.services import calendar

    with open(path, encoding="utf-8-sig") as handle:
        try:
            added = calendar.import_csv(db.session, handle, actor=None)
        except ValueError as error:
            raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"{added} days imported.")


@user_cli.command("create")
@click.argument("email")
@click.option(
    "--role", type=click.Choice(["admin", "dispatcher", "handler", "supervisor"]), required=True
)
@click.option("--name", default="")
@click.option("--department", "department_code", default="", help="Department code (handlers).")
@click.option("--mail", is_flag=True, help="Mail the set-password link instead of printing it.")
def user_create(email: str, role: str, name: str, department_code: str, mail: bool) -> None:
    """Create an account. A password typed on standard input must be changed at the first
    sign-in; without one, a link to choose it is printed once (or mailed with --mail)."""
    from portal.services import accounts, password_links

    department = _department(department_code)
    typed = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        user = accounts.create(
            db.session,
            None,
            email,
            name,
            role,
            typed or None,
            department,
            now=utcnow(),
            must_change_password=True,
        )
    except accounts.AccountError as error:
        raise click.ClickException(f"cannot create the account: {error.args[0]}") from error
    link = password_links.mail_setup_link(db.session, user) if mail and not typed else ""
    db.session.commit()
    click.echo(f"Account {user.email} ({user.role}) created.")
    if typed:
        click.echo("The typed password must be changed at the first sign-in.")
    elif mail:
        click.echo(f"A link to choose the password was mailed to {user.email}.")
    else:
        link = password_links.link(user, password_links.SETUP)
        days = password_links.link_days()
        click.echo(f"Link to choose the password (shown only once, valid {days} days, works once):")
        click.echo(link)


@user_cli.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(["admin", "dispatcher", "handler", "supervisor"]))
@click.option("--department", "department_code", default="", help="Department code (handlers).")
def user_role(email: str, role: str, department_code: str) -> None:
    """Give an account another role; every session of the account ends."""
    from sqlalchemy import select

    from portal.models import User
    from portal.services import accounts

    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.BadParameter("no such account", param_hint="EMAIL")
    try:
        accounts.set_role(db.session, None, user, role, _department(department_code), utcnow())
    except accounts.AccountError as error:
        raise click.ClickException(f"cannot change the role: {error.args[0]}") from error
    db.session.commit()
    click.echo(f"{user.email} is now {user.role}; its sessions were ended.")


def _department(code: str):
    """Return the department with this code (None for no code), or stop with a clear error."""
    from sqlalchemy import select

    from portal.models import Department

    if not code:
        return None
    department = db.session.scalar(select(Department).where(Department.code == code))
    if department is None:
        raise click.BadParameter("no such department", param_hint="--department")
    return department


@sla_cli.command("sweep")
def sla_sweep() -> None:
    """Remind at 75% and escalate at 100% of every deadline that came due; run it from cron."""
    from portal.services import escalations

    result = escalations.sweep(db.session, utcnow())
    db.session.commit()
    click.echo(f"{result.reminded} reminded, {result.escalated} escalated.")


@outbox_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep sending until stopped.")
@click.option(
    "--interval",
    default=30.0,
    help="Seconds between rounds with --loop (with Redis, a new message wakes it at once).",
)
def outbox_send(loop: bool, interval: float) -> None:
    """Send the e-mails that are due, retrying failed ones with back-off."""
    from portal.services import outbox
    from portal.web import DATABASE_DOWN

    while True:
        try:
            result = outbox.deliver(db.session, utcnow())
        except DATABASE_DOWN as error:
            if not loop:
                raise click.ClickException(f"the database is unavailable: {error}") from error
            # A database restart must not end the worker: the next round tries again.
            click.echo(f"database unavailable, next round in {interval:g} s: {error}", err=True)
            db.session.remove()
            time.sleep(interval)
            continue
        click.echo(f"{result.sent} sent, {result.failed} failed.")
        if not loop:
            return
        db.session.remove()
        outbox.wait_for_mail(interval)


@zones_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def zones_import(path: str) -> None:
    """Import zones from a GeoJSON FeatureCollection (properties: code, name_zh, name_en,
    level, parent)."""
    import json

    from portal.services import zones

    with open(path, encoding="utf-8") as handle:
        try:
            added, updated = zones.import_geojson(db.session, json.load(handle), actor=None)
        except (ValueError, KeyError) as error:
            raise click.ClickException(f"cannot import the zones: {error}") from error
    db.session.commit()
    click.echo(f"{added} zones added, {updated} updated.")


@privacy_cli.command("purge")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=None,
    help="The retention period (default: PERSONAL_DATA_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be erased, erase nothing.")
def privacy_purge(older_than_days: int | None, dry_run: bool) -> None:
    """Erase reporters' contacts of cases answered longer ago than the retention period, and
    other personal data as old; run it from cron."""
    from datetime import timedelta

    from portal.services import privacy

    days = older_than_days or current_app.config["PERSONAL_DATA_RETENTION_DAYS"]
    counts = privacy.purge(db.session, utcnow(), timedelta(days=days), dry_run=dry_run)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    verb = "would be erased" if dry_run else "erased"
    listed = ", ".join(f"{name}: {n}" for name, n in counts.items())
    click.echo(f"Personal data older than {days} days {verb}: {listed}.")


def init_app(app: Flask) -> None:
    """Register the operator command groups."""
    for group in (
        demo_cli,
        apikey_cli,
        calendar_cli,
        user_cli,
        sla_cli,
        outbox_cli,
        zones_cli,
        spotchecks_cli,
        report_cli,
        privacy_cli,
        photos_cli,
        backup_cli,
    ):
        app.cli.add_command(group)
