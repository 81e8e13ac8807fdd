"""The audit log: browse, filter and export as CSV. Nothing here changes it."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Response, current_app, render_template, request, stream_with_context
from flask_login import current_user
from sqlalchemy import Select, select

from admin import admin_required, bp
from portal import date_filters
from portal.extensions import db
from portal.models import AuditEntry, User
from portal.models.base import shifted
from portal.services.audit import record_download
from portal.web import page_number

PAGE_SIZE = 50


def _query() -> Select:
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    args = request.args
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    days = date_filters.day_range(args.get("since"), args.get("until"))
    if days.since is not None:
        query = query.where(AuditEntry.created_at >= datetime.combine(days.since, time.min, tz))
    if days.until is not None:  # the whole last day, in the office's time zone
        until = datetime.combine(days.until, time.min, tz)
        query = query.where(AuditEntry.created_at < shifted(until, timedelta(days=1)))
    if args.get("action"):
        query = query.where(AuditEntry.action.startswith(args["action"][:50]))
    if args.get("object"):
        query = query.where(AuditEntry.object_id == args["object"][:50])
    if args.get("actor"):
        query = query.where(AuditEntry.actor.has(User.email == args["actor"][:255]))
    return query


@bp.route("/audit")
@admin_required
def audit() -> str:
    """List audit entries, newest first, filtered by action, object, actor or dates."""
    page = db.paginate(
        _query(), page=page_number(), per_page=PAGE_SIZE, max_per_page=PAGE_SIZE, error_out=False
    )
    days = date_filters.day_range(request.args.get("since"), request.args.get("until"))
    return render_template("admin/audit.html", page=page, date_errors=days.errors)


@bp.route("/audit.csv")
@admin_required
def audit_csv() -> Response:
    """Export the filtered audit log as CSV, streamed."""
    record_download(db.session, current_user, "audit.csv", False)
    db.session.commit()

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            [
                "id",
                "time",
                "actor",
                "action",
                "object_type",
                "object_id",
                "before",
                "after",
                "address",
            ]
        )
        # A client that hangs up mid-download closes this generator: close the server-side
        # cursor then, rather than leave it to the garbage collector.
        entries = db.session.scalars(_query().execution_options(yield_per=500))
        try:
            for entry in entries:
                writer.writerow(
                    [
                        entry.id,
                        entry.created_at.isoformat(),
                        entry.actor_label,
                        entry.action,
                        entry.object_type,
                        entry.object_id,
                        json.dumps(entry.before, ensure_ascii=False),
                        json.dumps(entry.after, ensure_ascii=False),
                        entry.address,
                    ]
                )
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        finally:
            entries.close()
        yield buffer.getvalue()

    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit.csv"},
    )
