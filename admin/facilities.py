"""Admins' facility register: import a survey (GeoJSON or CSV), download the register."""

from __future__ import annotations

from flask import Response, render_template, request, stream_with_context
from flask_login import current_user
from sqlalchemy import func, select

from admin import admin_required, bp
from admin.forms import FacilityImportForm
from portal.extensions import db
from portal.models import Facility, utcnow
from portal.services import audit, facility_io


@bp.route("/facilities", methods=["GET", "POST"])
@admin_required
def facility_import() -> tuple[str, int]:
    """Show the register's size and import a survey file, or try it first (dry run)."""
    form = FacilityImportForm()
    report, error = None, None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            report = facility_io.import_file(
                db.session,
                upload.stream,
                facility_io.detect_format(upload.filename or ""),
                dry_run=form.dry_run.data,
                crs=form.crs.data,
                skip_bad=form.skip_bad.data,
            )
        except facility_io.FileError as failure:
            error = str(failure)
        if report is not None and report.applied:
            audit.record(
                db.session,
                current_user,
                "facilities.import",
                "facility",
                "",
                after={"new": report.new, "updated": report.updated, "file": upload.filename},
            )
            db.session.commit()
        else:
            db.session.rollback()
    total = db.session.scalar(select(func.count()).select_from(Facility))
    status = 200 if request.method == "GET" or (report and not report.refused_count) else 422
    return render_template(
        "admin/facilities.html", form=form, report=report, error=error, total=total
    ), status


def _download(body, mimetype: str, extension: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    name = f"facilities-{utcnow():%Y%m%d-%H%M}.{extension}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/facilities/export.geojson")
@admin_required
def facility_export_geojson() -> Response:
    """Download the whole register as GeoJSON, streamed."""
    return _download(facility_io.export_geojson(db.session), "application/geo+json", "geojson")


@bp.route("/facilities/export.csv")
@admin_required
def facility_export_csv() -> Response:
    """Download the whole register as CSV, streamed."""
    return _download(facility_io.export_csv(db.session), "text/csv", "csv")
