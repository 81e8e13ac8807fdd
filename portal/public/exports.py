"""The public list of cases as CSV: the list's filters, public fields only, streamed."""

from __future__ import annotations

from flask import Response, current_app, stream_with_context
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import aliased

from portal.extensions import db, limiter
from portal.models import Case, Category, Zone, utcnow
from portal.models.base import in_english
from portal.public import bp
from portal.public.cases import list_filters
from portal.services import case_search, exports, moderation
from portal.web import public_url_for, state_label

# Aliases, so that the list's filters (subqueries on these tables) stay uncorrelated.
CATEGORY, ZONE = aliased(Category), aliased(Zone)


@bp.route("/cases.csv")
@limiter.limit(lambda: current_app.config["RATELIMIT_API"])
def cases_csv() -> Response:
    """Download the public cases matching the list's filters, without any personal data."""
    _form, filters, tz = list_filters()
    query = (
        select(
            Case.number,
            CATEGORY.code,
            CATEGORY.name_zh,
            CATEGORY.name_en,
            Case.state,
            ZONE.name_zh.label("zone_zh"),
            ZONE.name_en.label("zone_en"),
            Case.created_at,
            Case.updated_at,
            Case.lat,
            Case.lng,
            Case.address,
            Case.description,
            Case.moderated,
        )
        .select_from(Case)
        .join(CATEGORY, CATEGORY.id == Case.category_id)
        .outerjoin(ZONE, ZONE.id == Case.zone_id)
    )
    query = case_search.public_filtered(query, filters, tz)
    english = in_english()
    url = public_url_for("public.case_page", number="NUMBER").replace("NUMBER", "{}")
    header = [
        _("Case number"),
        _("Category code"),
        _("Category"),
        _("State"),
        _("Zone"),
        _("Reported"),
        _("Last updated"),
        _("Latitude"),
        _("Longitude"),
        _("Address"),
        _("Description"),
        _("Link"),
    ]

    def lines():
        rows = db.session.execute(query.execution_options(yield_per=exports.BATCH))
        for row in rows:
            yield [
                row.number,
                row.code,
                row.name_en if english and row.name_en else row.name_zh,
                state_label(row.state),
                (row.zone_en if english and row.zone_en else row.zone_zh) or "",
                f"{row.created_at.astimezone(tz):%Y-%m-%d %H:%M}",
                f"{row.updated_at.astimezone(tz):%Y-%m-%d %H:%M}",
                row.lat,
                row.lng,
                row.address,
                moderation.with_note(row.description, row.moderated),
                url.format(row.number),
            ]

    response = Response(
        stream_with_context(exports.csv_chunks(header, lines())), mimetype="text/csv"
    )
    name = f"cases-{utcnow():%Y%m%d}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
