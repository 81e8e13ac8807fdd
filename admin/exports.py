"""The filtered queue as CSV, XLSX and GeoJSON, streamed from the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, current_app, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Row, select
from sqlalchemy.orm import aliased

from admin import bp
from admin.queue import filtered_queue
from portal.extensions import db
from portal.models import Case, Category, Department, Zone, utcnow
from portal.models.base import in_english
from portal.services import audit, exports, moderation
from portal.web import priority_label, public_url_for, source_label, state_label

# Aliases, so that the queue's filters (subqueries on these tables) are not correlated to the
# joins that fetch the names.
CATEGORY, DEPARTMENT, ZONE = aliased(Category), aliased(Department), aliased(Zone)


def may_see_contacts() -> bool:
    """Tell whether the signed-in user's exports carry the reporters' contacts."""
    return current_user.role in ("dispatcher", "admin")


def _rows(now: datetime) -> Iterator[Row]:
    """Yield the queue's cases as rows, fetched a batch at a time."""
    columns = [
        Case.number,
        Case.state,
        Case.priority,
        Case.source,
        CATEGORY.code.label("category_code"),
        CATEGORY.name_zh.label("category_zh"),
        CATEGORY.name_en.label("category_en"),
        DEPARTMENT.name_zh.label("department_zh"),
        DEPARTMENT.name_en.label("department_en"),
        ZONE.name_zh.label("zone_zh"),
        ZONE.name_en.label("zone_en"),
        Case.created_at,
        Case.respond_due_at,
        Case.responded_at,
        Case.resolve_due_at,
        Case.resolved_at,
        Case.closed_at,
        Case.lat,
        Case.lng,
        Case.address,
        Case.description,
        Case.moderated,
    ]
    if may_see_contacts():
        columns += [Case.reporter_name, Case.reporter_phone, Case.reporter_email]
    query = (
        select(*columns)
        .select_from(Case)
        .join(CATEGORY, CATEGORY.id == Case.category_id)
        .outerjoin(DEPARTMENT, DEPARTMENT.id == Case.department_id)
        .outerjoin(ZONE, ZONE.id == Case.zone_id)
    )
    query, _filters = filtered_queue(query, now)
    yield from db.session.execute(query.execution_options(yield_per=exports.BATCH))


def _header() -> list[str]:
    header = [
        _("Case number"),
        _("State"),
        _("Priority"),
        _("Source"),
        _("Category code"),
        _("Category"),
        _("Department"),
        _("Zone"),
        _("Created"),
        _("Respond by"),
        _("Responded"),
        _("Resolve by"),
        _("Resolved at"),
        _("Closed at"),
        _("Latitude"),
        _("Longitude"),
        _("Address"),
        _("Description"),
    ]
    if may_see_contacts():
        header += [_("Reporter"), _("Phone"), _("E-mail")]
    return header


def _cells(as_text: bool) -> Callable[[Row], list]:
    """Return a function that turns a row into the cells of a line, times in local time."""
    english = in_english()
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    contacts = may_see_contacts()

    def when(value: datetime | None):
        if value is None:
            return None
        local = value.astimezone(tz).replace(tzinfo=None)
        return local.strftime("%Y-%m-%d %H:%M") if as_text else local

    def name(zh: str | None, en: str | None) -> str:
        return (en if english and en else zh) or ""

    def cells(row: Row) -> list:
        line = [
            row.number,
            state_label(row.state),
            priority_label(row.priority),
            source_label(row.source),
            row.category_code,
            name(row.category_zh, row.category_en),
            name(row.department_zh, row.department_en),
            name(row.zone_zh, row.zone_en),
            when(row.created_at),
            when(row.respond_due_at),
            when(row.responded_at),
            when(row.resolve_due_at),
            when(row.resolved_at),
            when(row.closed_at),
            row.lat,
            row.lng,
            row.address,
            moderation.with_note(row.description, row.moderated),
        ]
        if contacts:
            line += [row.reporter_name, row.reporter_phone, row.reporter_email]
        return line

    return cells


def _download(body: Iterator, mimetype: str, extension: str) -> Response:
    audit.record_download(db.session, current_user, f"cases.{extension}", may_see_contacts())
    db.session.commit()
    name = f"cases-{utcnow():%Y%m%d-%H%M}.{extension}"
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/export/cases.csv")
def export_csv() -> Response:
    """Download the filtered queue as CSV (UTF-8 with a byte-order mark, for Excel)."""
    cells = _cells(as_text=True)
    body = exports.csv_chunks(_header(), (cells(row) for row in _rows(utcnow())))
    return _download(body, "text/csv", "csv")


@bp.route("/export/cases.xlsx")
def export_xlsx() -> Response:
    """Download the filtered queue as an Excel workbook."""
    cells = _cells(as_text=False)
    body = exports.xlsx_chunks(_("Cases"), _header(), (cells(row) for row in _rows(utcnow())))
    return _download(
        body, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
    )


@bp.route("/export/cases.geojson")
def export_geojson() -> Response:
    """Download the filtered queue as GeoJSON points."""
    cells = _cells(as_text=False)
    keys = ("number", "state", "priority", "source", "category_code", "category", "department")
    contacts = may_see_contacts()
    url = public_url_for("admin.case_page", number="NUMBER").replace("NUMBER", "{}")

    def features() -> Iterator[dict]:
        for row in _rows(utcnow()):
            line = cells(row)
            properties = dict(zip(keys, line[:7], strict=True))
            properties.update(
                zone=line[7],
                created_at=row.created_at.isoformat(),
                state_code=row.state,
                url=url.format(row.number),
            )
            if contacts:
                properties.update(
                    reporter_name=row.reporter_name,
                    reporter_phone=row.reporter_phone,
                    reporter_email=row.reporter_email,
                )
            yield {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [row.lng, row.lat]},
                "properties": properties,
            }

    return _download(exports.geojson_chunks(features()), "application/geo+json", "geojson")
