"""The work queues and bulk actions."""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, load_only
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.forms import BulkForm
from portal import date_filters
from portal.extensions import db
from portal.i18n import catalog
from portal.models import (
    CASE_FLAGS,
    OPEN_STATES,
    PRIORITIES,
    SOURCES,
    STATES,
    Case,
    Department,
    Facility,
    User,
    utcnow,
)
from portal.models.base import in_english
from portal.services import bulk as bulk_actions
from portal.services import case_search, facilities, queues, reference, sla, workflow
from portal.web import CappedPage, page_number, priority_label, state_label, warn_unsearchable

PAGE_SIZE = 25


def active_departments() -> list[Department]:
    """Return the active departments in the order of their codes."""
    return list(
        db.session.scalars(select(Department).where(Department.active).order_by(Department.code))
    )


def department_choices(departments: list[Department] | None = None) -> list[tuple[str, str]]:
    """Return the active departments as form choices."""
    return [(d.code, d.name) for d in departments or active_departments()]


FILTER_ARGS = ("q", "state", "category", "zone", "department", "priority", "source", "flag")


def queue_view() -> str:
    """Return the saved view the request asks for; with no view and no filter, the role's
    default one (what needs it now)."""
    view = request.args.get("view")
    if view is None:  # the filter form sent, even "all states": the cases it chose
        filtering = any(a in request.args for a in (*FILTER_ARGS, "overdue", "since", "until"))
        return "" if filtering else "todo"
    return view if view in queues.views_for(current_user) else ""


def queue_filters() -> case_search.QueueFilters:
    """Read the queue's filters from the request."""
    args = request.args
    state = args.get("state", "")
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


def filtered_queue(
    query: Select, now: datetime, *, search: bool = True
) -> tuple[Select, case_search.QueueFilters]:
    """Narrow a query of cases to the signed-in user's queue as the request filters it.

    The queue pages and the exports share it, so an export holds what the queue shows.
    `search=False` leaves the text search out of the query (the page reads it by tiers).
    """
    filters = queue_filters()
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    view = queue_view()
    if view:
        query = query.where(queues.condition(view, current_user, now))
    narrowing = filters if search else dataclasses.replace(filters, q="")
    query = case_search.queue_filtered(query, current_user, narrowing, now, tz)
    query = facility_filtered(query, now)
    if not filters.state and not view and current_user.role == "handler":
        query = query.where(Case.state.in_(OPEN_STATES))
    return query, filters


def facility_filtered(query: Select, now: datetime) -> Select:
    """Narrow the queue to the cases of repeat facilities (repeat=1) or of one facility
    (facility=CODE)."""
    if request.args.get("repeat") == "1":
        flagged = facilities.repeat_ids(now).subquery()
        query = query.where(Case.facility_id.in_(select(flagged.c.facility_id)))
    code = request.args.get("facility", "")[:40]
    if code:
        query = query.where(Case.facility.has(Facility.code == code))
    return query


@bp.context_processor
def queue_counts() -> dict:
    """Give every back-office page the user's saved views and their counts (the navigation)."""
    if not current_user.is_authenticated or not current_user.is_staff:
        return {}
    try:
        return {"queue_counts": queues.cached_counts(db.session, current_user, utcnow())}
    except SQLAlchemyError:  # the error page of a database outage still renders, uncounted
        return {}


# What a row of the queue shows: the page reads these columns and names, not whole rows
# (a case's description, JSON attributes and the rest stay in the database).
ROW_COLUMNS = (
    Case.number,
    Case.state,
    Case.priority,
    Case.source,
    Case.major_hazard,
    Case.attention_at,
    Case.extension_minutes,
    Case.flags,
    Case.paused_at,
    Case.respond_due_at,
    Case.responded_at,
    Case.resolve_due_at,
    Case.version_id,
    Case.category_id,
    Case.zone_id,
    Case.department_id,
    Case.suggested_department_id,
    Case.assignee_id,
)


@functools.cache
def queue_rows() -> Select:
    """Return the query of the queue's rows: the columns a row shows, with its assignee's
    name read in the same query (the category and department names come from the
    worker's copy of the reference data). Built once: a statement is immutable, and its
    loader options cost about a millisecond to build on every page."""
    return select(Case).options(
        load_only(*ROW_COLUMNS), joinedload(Case.assignee).load_only(User.name)
    )


@bp.route("/")
def index() -> str:
    """Show the user's queue: overdue first, then by the next deadline."""
    now = utcnow()
    query, filters = filtered_queue(queue_rows(), now, search=False)
    warn_unsearchable(filters.q)
    if filters.q:
        page = case_search.SearchPage(
            query, filters.q, staff=True, page=page_number(), per_page=PAGE_SIZE
        )
    else:
        page = CappedPage(query, page_number(), PAGE_SIZE)
    # The categories, zones, departments, policies, routing rules and calendar: the
    # worker's copy, read again only when staff changed them (services/reference.py).
    ref = reference.current(db.session)
    names = ref.labels(in_english())
    memo: dict = {"reference": ref, "policies": ref.policies}  # for every countdown
    bulk = BulkForm()
    bulk.department.choices = [("", _("— Each case's suggested department —")), *names.departments]
    return render_template(
        "admin/queue.html",
        page=page,
        filters=filters,
        view=queue_view(),
        countdowns={c.id: sla.countdown(db.session, c, now, memo) for c in page.items},
        suggested={
            c.id: ref.department_for(c.suggested_department_id, c.category_id, c.zone_id)
            for c in page.items
            if c.state in ("submitted", "accepted")
        },
        case_path=url_for("admin.case_page", number="NUMBER"),
        clock=countdown_phrases(),
        bulk=bulk,
        now=now,
        state_names={s: state_label(s) for s in STATES},
        priority_names={p: priority_label(p) for p in PRIORITIES},
        sources=SOURCES,
        flags=CASE_FLAGS,
        categories=names.categories,
        category_names=names.category_names,
        zones=names.zones,
        departments=names.departments,
        department_names=names.department_names,
        calendar_missing=ref.missing_year(now.date()),
        date_errors=date_filters.day_range(
            request.args.get("since"), request.args.get("until")
        ).errors,
    )


def countdown_phrases() -> dict[str, str]:
    """Return the phrases of a row's countdown (admin/_countdown.html), translated once for
    a page of rows and filled in with `%` by the template (which escapes the result)."""
    translate = catalog().ugettext  # the request's catalog, looked up once
    return {
        "working": translate("%(h)d working h %(m)d min"),
        "calendar": translate("%(h)d h %(m)d min"),
        "days": translate("%(d)d d %(h)d h"),
        "paused": translate("clock paused, %(time)s left"),
        "overdue": translate("%(time)s overdue"),
        "left": translate("%(time)s left"),
    }


def queue_back() -> str:
    """Return the queue page a bulk action was sent from: its view and filters come back as
    the query string the form carried (`back`), never another path."""
    query = urlencode(parse_qsl(request.form.get("back", "")[:2000]))
    return url_for(".index") + (f"?{query}" if query else "")


@bp.route("/cases/bulk", methods=["POST"])
@dispatcher_required
def bulk() -> Response | tuple[str, int]:
    """Take one action on many cases, each on its own; list what became of each."""
    form = BulkForm()
    form.department.choices = [("", ""), *department_choices()]
    if not form.validate() or not form.numbers.data:
        flash(_("Choose cases and an action."), "error")
        return redirect(queue_back(), code=303)
    from admin.casework import error_message

    department = None
    if form.department.data:
        department = db.session.scalar(
            select(Department).where(Department.code == form.department.data)
        )
        if department is None:
            flash(error_message("department"), "error")
            return redirect(queue_back(), code=303)
    versions = {n: request.form.get(f"version-{n}", type=int) for n in form.numbers.data}
    try:
        outcomes = bulk_actions.apply(
            db.session,
            current_user,
            form.action.data,
            versions,
            utcnow(),
            priority=form.priority.data or "",
            department=department,
        )
    except workflow.WorkflowError as refused:
        db.session.rollback()
        flash(error_message(refused.code), "error")
        return redirect(queue_back(), code=303)
    db.session.commit()
    return render_template(
        "admin/bulk_result.html", outcomes=outcomes, action=form.action.data, back=queue_back()
    )
