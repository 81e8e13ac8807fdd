"""The work queues and bulk actions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.forms import BulkForm
from portal import date_filters
from portal.extensions import db
from portal.models import (
    CASE_FLAGS,
    OPEN_STATES,
    PRIORITIES,
    SOURCES,
    STATES,
    Case,
    Category,
    Department,
    Zone,
    utcnow,
)
from portal.services import calendar, case_search, workflow
from portal.web import page_number

PAGE_SIZE = 25


def department_choices() -> list[tuple[str, str]]:
    """Return the active departments as form choices."""
    departments = db.session.scalars(
        select(Department).where(Department.active).order_by(Department.code)
    )
    return [(d.code, d.name) for d in departments]


def queue_filters() -> case_search.QueueFilters:
    """Read the queue's filters from the request, with the role's default state."""
    args = request.args
    default_state = "submitted" if current_user.role in ("dispatcher", "admin") else ""
    state = args.get("state", default_state)
    days = date_filters.day_range(args.get("since"), args.get("until"))
    return case_search.QueueFilters(
        q=args.get("q", "")[:100],
        state=state if state in STATES else "",
        category=args.get("category", "")[:20],
        zone=args.get("zone", "")[:40],
        department=args.get("department", "")[:20],
        priority=args.get("priority", "") if args.get("priority") in PRIORITIES else "",
        source=args.get("source", "") if args.get("source") in SOURCES else "",
        flag=args.get("flag", "") if args.get("flag") in CASE_FLAGS else "",
        overdue=args.get("overdue") == "1",
        since=days.since,
        until=days.until,
    )


def filtered_queue(query: Select, now: datetime) -> tuple[Select, case_search.QueueFilters]:
    """Narrow a query of cases to the signed-in user's queue as the request filters it.

    The queue pages and the exports share it, so an export holds what the queue shows.
    """
    filters = queue_filters()
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    query = case_search.queue_filtered(query, current_user, filters, now, tz)
    if not filters.state and current_user.role == "handler":
        query = query.where(Case.state.in_(OPEN_STATES))
    return query, filters


@bp.route("/")
def index() -> str:
    """Show the user's queue: overdue first, then by the next deadline."""
    now = utcnow()
    query, filters = filtered_queue(
        select(Case).options(joinedload(Case.category), joinedload(Case.department)), now
    )
    page = db.paginate(
        query, page=page_number(), per_page=PAGE_SIZE, max_per_page=PAGE_SIZE, error_out=False
    )
    bulk = BulkForm()
    bulk.department.choices = department_choices()
    return render_template(
        "admin/queue.html",
        page=page,
        filters=filters,
        bulk=bulk,
        now=now,
        states=STATES,
        priorities=PRIORITIES,
        sources=SOURCES,
        flags=CASE_FLAGS,
        categories=db.session.scalars(select(Category).order_by(Category.code)).all(),
        zones=db.session.scalars(select(Zone).where(Zone.level != "grid")).all(),
        departments=department_choices(),
        calendar_missing=calendar.missing_year(db.session, now.date()),
        date_errors=date_filters.day_range(
            request.args.get("since"), request.args.get("until")
        ).errors,
    )


@bp.route("/cases/bulk", methods=["POST"])
@dispatcher_required
def bulk() -> Response:
    """Accept or route many cases at once."""
    form = BulkForm()
    form.department.choices = department_choices()
    if not form.validate() or not form.numbers.data:
        flash(_("Choose cases and an action."), "error")
        return redirect(url_for(".index"), code=303)
    now, done, refused = utcnow(), 0, []
    department = db.session.scalar(
        select(Department).where(Department.code == form.department.data)
    )
    for number in form.numbers.data[:200]:
        case = db.session.scalar(select(Case).where(Case.number == number))
        try:
            if case is None:
                raise workflow.WorkflowError("missing")
            if form.action.data == "accept":
                workflow.accept(
                    db.session, case, current_user, form.priority.data or case.priority, now
                )
            elif department is None:
                raise workflow.WorkflowError("department")
            else:
                workflow.route(db.session, case, current_user, department, now)
            done += 1
        except workflow.WorkflowError:
            refused.append(number)
    db.session.commit()
    flash(_("%(n)d cases updated.", n=done), "success")
    if refused:
        flash(_("Not allowed in their state: %(numbers)s", numbers=", ".join(refused)), "error")
    return redirect(url_for(".index"), code=303)
