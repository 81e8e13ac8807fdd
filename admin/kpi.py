"""The KPIs in the back office: per department and per zone, and the monthly workbook."""

from __future__ import annotations

from flask import Response, render_template, stream_with_context

from admin import bp, dispatcher_required
from portal.extensions import db
from portal.models import utcnow
from portal.public.kpi import chosen_month, kpi_context, month_or_error
from portal.services import exports, kpi, monthly_report


@bp.route("/kpi")
def kpi_page() -> tuple[str, int]:
    """Show a month's KPIs for the office, each department and each street, with the trend."""
    month, tz, error = month_or_error()
    now = utcnow()
    page = render_template(
        "admin/kpi.html",
        month_error=error,
        departments=kpi.by_department(db.session, month, now, tz),
        extensions=kpi.extensions(db.session, month, tz),
        ratings=kpi.ratings_by_department(db.session, month, tz),
        zones=kpi.by_zone(db.session, month, now, tz),
        **kpi_context(month, tz),
    )
    return page, 422 if error else 200


@bp.route("/reports/monthly.xlsx")
@dispatcher_required
def monthly_workbook() -> Response:
    """Download the month's workbook for the office's meeting."""
    month, tz = chosen_month()
    now = utcnow()

    def body():
        yield from exports.file_chunks(
            lambda path: monthly_report.write(db.session, month, now, tz, path)
        )

    response = Response(
        stream_with_context(body()),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = f"monthly-report-{month:%Y-%m}.xlsx"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
