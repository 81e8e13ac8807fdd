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
followups_cli = AppGroup("followups", help="Follow-up checks (回头看) of fixed cases and works.")
hotspots_cli = AppGroup("hotspots", help="Grid hotspots: cells where a group of problems surges.")
search_cli = AppGroup("search", help="The text search index of cases.")
storage_cli = AppGroup("storage", help="The object store of photos and backups.")
# Where `backup create` keeps a copy of each archive in the object store.
BACKUP_PREFIX = "backups/"
STORE_PREFIX = "store:"


@storage_cli.command("check")
def storage_check() -> None:
    """Tell whether the object store (STORAGE_URL, or the folder UPLOAD_DIR) answers."""
    from portal.services import storage

    store = storage.for_app(current_app)
    try:
        store.check()
    except storage.StoreUnavailable as error:
        raise click.ClickException(f"{store.url} does not answer: {error}") from error
    click.echo(f"{store.url} answers.")


@storage_cli.command("migrate")
@click.option("--to", "target_url", required=True, help="s3://bucket?endpoint=... or a folder.")
@click.option("--from", "source_url", default="", help="Default: this portal's store.")
def storage_migrate(target_url: str, source_url: str) -> None:
    """Copy every photo and backup archive into another store, each checked by its SHA-256
    read back from there. Run it again to resume an interrupted copy: what is already there
    with the same hash is left alone. Then set STORAGE_URL to the new store."""
    from portal.services import storage

    try:
        source = storage.from_url(source_url) if source_url else storage.for_app(current_app)
        target = storage.from_url(target_url, timeout=current_app.config["STORAGE_TIMEOUT"])
        target.check()
        result = storage.migrate(source, target)
    except storage.StorageConfigError as error:
        raise click.BadParameter(str(error)) from error
    except storage.StoreUnavailable as error:
        raise click.ClickException(f"stopped, run it again to resume: {error}") from error
    click.echo(
        f"{len(result.copied)} objects copied and verified, {result.present} already there "
        f"with the same hash, {len(result.failed)} failed ({source.url} -> {target.url})."
    )
    for key in result.failed:
        click.echo(f"differs after copying: {key}", err=True)
    if result.failed:
        sys.exit(1)


@backup_cli.command("create")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def backup_create(path: str | None) -> None:
    """Write the database and its photos to one archive (default backup-<time>.tar)."""
    from pathlib import Path

    from portal.services import backups
    from portal.services.photos import store_for_app

    now = utcnow()
    target = Path(path or f"backup-{now:%Y%m%d-%H%M%S}.tar")
    store = store_for_app()
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
        click.echo(f"The photo file {name} is missing; it is not in the backup.", err=True)
    if not store.backend.is_local:
        key = BACKUP_PREFIX + target.name
        store.backend.put_file(key, target, content_type="application/x-tar")
        click.echo(f"Kept in the object store as {STORE_PREFIX}{key}.")


@backup_cli.command("restore")
@click.argument("path")
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
def backup_restore(path: str, force: bool) -> None:
    """Restore an archive (a file, or store:backups/NAME kept in the object store) into this
    portal's empty database and its object store."""
    import tempfile
    from pathlib import Path

    from portal.services import backups
    from portal.services.photos import store_for_app

    store = store_for_app()
    db.session.remove()
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(path)
        if path.startswith(STORE_PREFIX):
            archive = Path(folder) / "backup.tar"
            try:
                store.backend.download(path.removeprefix(STORE_PREFIX), archive)
            except (FileNotFoundError, ValueError) as error:
                raise click.BadParameter(f"The store holds no archive {path}.") from error
        elif not archive.is_file():
            raise click.BadParameter(f"There is no file {path}.")
        try:
            manifest = backups.restore(db.engine, store, archive, force=force)
        except backups.BackupError as error:
            raise click.ClickException(f"Nothing was restored: {error}") from error
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
    from portal.services.photos import store_for_app

    store = store_for_app()
    result = photo_cleanup.sweep(db.session, store, grace=grace, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for path in result.orphans:
        click.echo(f"{verb} {path}")
    click.echo(
        f"Photo store checked: {result.purged} pending photos purged, "
        f"{len(result.orphans)} orphan files {verb}, {result.recent} too recent to judge, "
        f"{result.referenced} photos referenced, {len(result.missing)} missing."
    )
    for sha in result.missing:
        click.echo(f"Photo file missing: {sha}.", err=True)
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
@click.option(
    "--if-missing",
    is_flag=True,
    help="For cron on every node: a month already drawn is left as it is, without an error.",
)
def spotchecks_assign(
    month: str, per_supervisor: int, seed: int | None, force: bool, by_email: str, if_missing: bool
) -> None:
    """Assign each active supervisor sites to check this month, at random but spread.

    Without --by, the operator's login on this server is recorded as who ran it. Run on
    several nodes at once, one draws and the others leave it (an advisory lock per month).
    """
    from portal.services import singleton

    with singleton.run_once(db.engine, f"spotchecks:{month}") as mine:
        if not mine:
            click.echo(f"Another node is drawing {month}; nothing done.")
            return
        _spotchecks_assign(month, per_supervisor, seed, force, by_email, if_missing)


def _spotchecks_assign(
    month: str, per_supervisor: int, seed: int | None, force: bool, by_email: str, if_missing: bool
) -> None:
    import getpass

    from sqlalchemy import func, select

    from portal.models import SpotCheckRound, User
    from portal.services import spotchecks

    drawn = select(SpotCheckRound.id).where(SpotCheckRound.month == month)
    if if_missing and not force and db.session.scalar(drawn):
        click.echo(f"{month} is already drawn; nothing done.")
        return

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
        raise click.ClickException(f"No assignments were made: {error.args[0]}") from error
    db.session.commit()
    click.echo(f"Drew {len(round_.assignments)} assignments for {month} (seed {seed}).")


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo district and one account per seat, if the database is empty."""
    from pathlib import Path

    from portal.services import demo
    from portal.services.photos import store_for_app

    if current_app.config["PORTAL_ENV"] == "production":
        raise click.ClickException("Demo data and demo accounts are never loaded in production.")
    store = store_for_app()
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
    click.echo(f"Added {added} days from the chinese-calendar package.")


@calendar_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def calendar_import(path: str) -> None:
    """Import holidays and make-up working days from a CSV file: date,kind,name."""
    from portal.services import calendar

    with open(path, encoding="utf-8-sig") as handle:
        try:
            imported = calendar.import_csv(db.session, handle, actor=None)
        except ValueError as error:
            raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(
        f"Imported {imported.days} days; the deadlines of {len(imported.moved)} open cases "
        "were recomputed."
    )


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
        raise click.ClickException(f"The account was not created: {error.args[0]}") from error
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
        raise click.ClickException(f"The role was not changed: {error.args[0]}") from error
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
        raise click.BadParameter("No such department.", param_hint="--department")
    return department


@sla_cli.command("sweep")
@click.option(
    "--hotspots", "with_hotspots", is_flag=True, help="Also recompute this week's hotspots."
)
def sla_sweep(with_hotspots: bool) -> None:
    """Remind at 75% and escalate at 100% of every deadline that came due; run it from cron."""
    from portal.services import escalations, singleton

    # Every node's cron may run it: one sweeps, the others find the lock taken. (Rows are
    # taken with SKIP LOCKED as well, so even two sweeps at once handle each clock once.)
    with singleton.run_once(db.engine, "sla-sweep") as mine:
        if not mine:
            click.echo("Another node is sweeping; nothing done.")
            return
        result = escalations.sweep(db.session, utcnow())
        db.session.commit()
    click.echo(f"Deadlines checked: {result.reminded} reminded, {result.escalated} escalated.")
    if with_hotspots:
        _compute_hotspots(None)


def _compute_hotspots(week_text: str | None) -> None:
    from zoneinfo import ZoneInfo

    from portal.services import hotspots

    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    now = utcnow()
    try:
        week = hotspots.parse_week(week_text) if week_text else hotspots.current_week(now, tz)
    except hotspots.HotspotError as error:
        raise click.BadParameter(
            "not a week: YYYY-Www or YYYY-MM-DD", param_hint="--week"
        ) from error
    from portal.services import singleton

    # Every node's cron may run it: one computes the week, the others find the lock taken.
    with singleton.run_once(db.engine, f"hotspots:{week.isoformat()}") as mine:
        if not mine:
            click.echo("Another node is computing this week's hotspots; nothing done.")
            return
        found = hotspots.compute(
            db.session, week, hotspots.Method.from_config(current_app.config), tz, now
        )
        db.session.commit()
    click.echo(f"Week of {week.isoformat()}: {len(found)} hotspot(s).")


@followups_cli.command("draw")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--share", type=float, default=None, help="Share of each department; FOLLOWUP_SHARE.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None, help="Reproduce a draw.")
@click.option("--force", is_flag=True, help="Redo a month already drawn.")
def followups_draw(month: str, share: float | None, seed: int | None, force: bool) -> None:
    """Draw the month's follow-up checks, stratified by department, and assign them."""
    import getpass

    from portal.services import followups, singleton

    share = share if share is not None else current_app.config["FOLLOWUP_SHARE"]
    seed = seed if seed is not None else int(utcnow().timestamp())

    with singleton.run_once(db.engine, f"followups:{month}") as mine:
        if not mine:
            click.echo("Another node is drawing this month's follow-up checks; nothing done.")
            return
        try:
            round_ = followups.draw(
                db.session,
                month,
                share,
                seed,
                None,
                utcnow(),
                force=force,
                actor_label=getpass.getuser(),
            )
        except followups.FollowUpError as error:
            raise click.ClickException(f"not drawn: {error.args[0]}") from error
        db.session.commit()
    click.echo(f"{len(round_.follow_ups)} follow-up checks for {month} (seed {seed}).")


@hotspots_cli.command("compute")
@click.option("--week", default=None, help="YYYY-Www or a date in it; default: this week.")
def hotspots_compute(week: str | None) -> None:
    """Find and keep the grid hotspots of a week (the sweep can run it with --hotspots)."""
    _compute_hotspots(week)


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
                raise click.ClickException(f"The database is unavailable: {error}") from error
            # A database restart must not end the worker: the next round tries again.
            click.echo(
                f"The database is unavailable; the next round is in {interval:g} s: {error}",
                err=True,
            )
            db.session.remove()
            time.sleep(interval)
            continue
        click.echo(f"Outbox: {result.sent} messages sent, {result.failed} failed.")
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
            raise click.ClickException(f"The zones were not imported: {error}") from error
    db.session.commit()
    click.echo(f"Zones imported: {added} added, {updated} updated.")


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


@search_cli.command("reindex")
@click.option("--batch", default=2000, show_default=True, help="Cases per transaction.")
@click.option("--missing", is_flag=True, help="Only the cases that have no index row.")
@click.option(
    "--bulk",
    is_flag=True,
    help="One transaction; on SQLite the FTS5 table is rebuilt once at the end (minutes at "
    "a million cases, where the batches take about an hour), while no one else can write.",
)
def search_reindex(batch: int, missing: bool, bulk: bool) -> None:
    """Rebuild the text search index of every case, in batches, with progress."""
    from portal.services import search_index

    def progress(done: int, total: int) -> None:
        click.echo(f"{done:,} / {total:,} cases indexed")

    with db.engine.connect() as connection:

        def each_batch(done: int, total: int) -> None:
            # One transaction per batch: a rebuild holds no lock on the whole table for long.
            connection.commit()
            progress(done, total)

        if bulk:
            total = search_index.reindex_in_bulk(
                connection, only_missing=missing, progress=progress
            )
        else:
            total = search_index.reindex(
                connection, batch=batch, only_missing=missing, progress=each_batch
            )
        connection.commit()
    click.echo(f"Done: {total:,} cases indexed.")


def init_app(app: Flask) -> None:
    """Register the operator command groups."""
    from portal.facility_cli import facilities_cli

    for group in (
        facilities_cli,
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
        hotspots_cli,
        followups_cli,
        search_cli,
        storage_cli,
    ):
        app.cli.add_command(group)
    from portal.sensors_cli import sensors_cli

    app.cli.add_command(sensors_cli)
