"""Operator commands for the facility register: flask --app wsgi facilities import / export."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _

from portal.extensions import db

facilities_cli = AppGroup("facilities", help="The facility register (部件).")
LANGUAGES = {"zh": "zh_Hans_CN", "en": "en"}


@facilities_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--crs", type=click.Choice(["wgs84", "gcj02"]), default="wgs84", show_default=True)
@click.option("--skip-bad", is_flag=True, help="Import the good rows even if some are refused.")
@click.option("--format", "fmt", type=click.Choice(["geojson", "csv"]), help="Default: by name.")
@click.option("--lang", type=click.Choice(sorted(LANGUAGES)), default="zh", show_default=True)
def facilities_import(
    path: str, dry_run: bool, crs: str, skip_bad: bool, fmt: str | None, lang: str
) -> None:
    """Import facilities from a GeoJSON or CSV file (lon/lat columns or WKT), by code."""
    from portal.services import audit, facility_io

    with force_locale(LANGUAGES[lang]), open(path, "rb") as stream:

        def refused(refusal: facility_io.Refusal) -> None:
            click.echo(
                _("Row %(row)d refused: %(reason)s", row=refusal.row, reason=refusal.message)
                + (f" [{refusal.code}]" if refusal.code else "")
            )

        try:
            report = facility_io.import_file(
                db.session,
                stream,
                fmt or facility_io.detect_format(path),
                dry_run=dry_run,
                crs=crs,
                skip_bad=skip_bad,
                on_refused=refused,
            )
        except facility_io.FileError as error:
            db.session.rollback()
            raise click.ClickException(
                _("The file cannot be read: %(error)s", error=error)
            ) from error
        if report.applied:
            audit.record(
                db.session,
                None,
                "facilities.import",
                "facility",
                "",
                after={"new": report.new, "updated": report.updated, "file": path},
                actor_label="cli",
            )
            db.session.commit()
        else:
            db.session.rollback()
        counts = {"new": report.new, "updated": report.updated, "unchanged": report.unchanged}
        if dry_run:
            click.echo(_("Dry run, nothing was changed. Would be:"))
        elif report.applied:
            click.echo(_("Imported:"))
        else:
            click.echo(_("Nothing was changed: the file has refused rows (use --skip-bad)."))
        click.echo(
            _(
                "%(new)d new, %(updated)d updated, %(unchanged)d unchanged, %(refused)d refused.",
                refused=report.refused_count,
                **counts,
            )
        )
    if report.refused_count and not (skip_bad and report.applied):
        sys.exit(1)


@facilities_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["geojson", "csv"]), default="geojson")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Default: standard output.")
def facilities_export(fmt: str, output: str | None) -> None:
    """Write the whole register as GeoJSON or CSV, streamed."""
    from portal.services import facility_io

    pieces = (facility_io.export_csv if fmt == "csv" else facility_io.export_geojson)(db.session)
    if output is None:
        for piece in pieces:
            sys.stdout.write(piece)
        return
    with open(output, "w", encoding="utf-8", newline="") as out:
        for piece in pieces:
            out.write(piece)
    current_app.logger.info("facilities exported to %s", output)
