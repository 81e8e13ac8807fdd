"""Case pages: public view, list, private tracking, me too, rating, reopening, photos."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.wrappers import Response

from portal import date_filters
from portal.extensions import db, limiter
from portal.models import STATES, Case, CaseFollower, Category, Photo, Zone, utcnow
from portal.models.base import in_english
from portal.public import bp, page_cache
from portal.public.forms import (
    CaseFilterForm,
    FollowEmailForm,
    FollowForm,
    InfoForm,
    RatingForm,
    ReopenForm,
)
from portal.services import case_search, cases, sla, workflow
from portal.services.photos import store_for_app
from portal.web import page_number, state_label, warn_unsearchable

PAGE_SIZE = 20
# Everything the case page shows, in three queries rather than one per relation.
PAGE_LOADS = (
    joinedload(Case.category).joinedload(Category.group),
    joinedload(Case.zone).joinedload(Zone.parent),
    joinedload(Case.department),
    joinedload(Case.merged_into),
    selectinload(Case.events),
    selectinload(Case.photos),
)


def public_case_or_404(number: str, *options: object) -> Case:
    """Return a case the public may see (loading what the options say), or answer 404."""
    case = db.session.scalar(select(Case).where(Case.number == number).options(*options))
    if case is None or not case.is_public:
        abort(404)
    return case


def case_context(case: Case, now: datetime | None = None) -> dict:
    """Return what the case page shows besides the case."""
    now = now or utcnow()
    return {
        "case": case,
        "respond_status": sla.clock_status(case.respond_due_at, case.responded_at, now),
        # A rejected or merged case is answered; its resolve clock no longer runs.
        "resolve_status": "none"
        if case.state in ("rejected", "duplicate")
        else sla.clock_status(case.resolve_due_at, case.resolved_at, now),
        "follow_form": FollowForm(),
        "followed": case.id in session.get("followed", []),
        "follow_email_form": FollowEmailForm() if _follower_without_email(case) else None,
    }


def _follower_without_email(case: Case) -> CaseFollower | None:
    """Return this visitor's "me too" on the case if it left no e-mail yet."""
    follower_id = dict(session.get("follows", [])).get(case.id)
    follower = db.session.get(CaseFollower, follower_id) if follower_id else None
    return (
        follower
        if follower is not None and follower.case_id == case.id and not follower.email
        else None
    )


@bp.route("/cases/<number>")
@limiter.exempt  # read-only and mostly served from memory; the limits guard the forms
def case_page(number: str) -> Response | str:
    """Show a case as the public sees it, kept rendered until the case changes."""
    stamp = page_cache.read_stamp(number)
    if stamp is None or stamp.hidden:
        abort(404)
    if page_cache.shared_view(stamp.id):
        key = page_cache.page_key(number, str(get_locale()), stamp)
        body = page_cache.cached(key, lambda: _render_case_page(number))
        if body is not None:
            return current_app.response_class(body, mimetype="text/html")
    return render_template(
        "public/case.html", **case_context(public_case_or_404(number, *PAGE_LOADS))
    )


def _render_case_page(number: str) -> tuple[str, float]:
    """Render the public case page; return it with when it stops being true."""
    now = utcnow()
    context = case_context(public_case_or_404(number, *PAGE_LOADS), now)
    case = context["case"]
    pending = [
        due
        for due, status in (
            (case.respond_due_at, context["respond_status"]),
            (case.resolve_due_at, context["resolve_status"]),
        )
        if status == "pending"
    ]
    return render_template("public/case.html", **context), page_cache.expiry(pending, now)


@bp.route("/track/<token>")
def track(token: str) -> str:
    """Show the reporter's private view of their case, with rating and reopening."""
    case = cases.find_by_token(db.session, token)
    if case is None:
        abort(404)
    return render_template(
        "public/case.html",
        token=token,
        rating_form=RatingForm(),
        reopen_form=ReopenForm(),
        info_form=InfoForm(),
        updates_form=FollowEmailForm(),
        **feedback_context(case),
        **case_context(case),
    )


def feedback_context(case: Case) -> dict:
    """Return what the private page needs to ask "fixed / not fixed" and for a rating."""
    return {
        "can_reopen": cases.can_reopen(case, utcnow()),
        "can_rate": cases.can_rate(case),
        "rating_of_cycle": cases.rating_of_cycle(case),
    }


@bp.route("/cases/<number>/follow", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_FOLLOW"])
def follow(number: str) -> Response | tuple[str, int]:
    """Say "me too" on an open case; a refused address comes back in its field, with why."""
    case = public_case_or_404(number)
    form = FollowForm()
    followed = session.get("followed", [])
    if not form.validate():
        context = case_context(public_case_or_404(number, *PAGE_LOADS))
        return render_template("public/case.html", **context | {"follow_form": form}), 422
    if number in dict(session.get("tracking", [])):  # reported from this browser
        flash(_("You reported this case: your report counts already."), "info")
    elif case.id in followed:
        flash(_("You already follow this case."), "info")
    elif not case.is_open:
        flash(_("This case is no longer open."), "error")
    else:
        follower = cases.follow(
            db.session,
            case,
            utcnow(),
            email=(form.email.data or "").lower(),
            locale=str(get_locale()),
        )
        db.session.commit()
        session["followed"] = [case.id, *followed][:200]
        session["follows"] = [[case.id, follower.id], *session.get("follows", [])][:200]
        if follower.email:
            flash(_("Thank you. You now follow this case."), "success")
        else:
            flash(_("Thank you. Leave your e-mail below to get the case's updates."), "success")
            # The e-mail field sits below the timeline, screens away on a phone: land on it.
            at_field = url_for(".case_page", number=number, _anchor="follow-heading")
            return redirect(at_field, code=303)
    return redirect(url_for(".case_page", number=number), code=303)


@bp.route("/cases/<number>/follow/email", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_FOLLOW"])
def follow_email(number: str) -> Response | tuple[str, int]:
    """Add an e-mail to this visitor's "me too", for the case's updates."""
    case = public_case_or_404(number)
    follower = _follower_without_email(case)
    if follower is None:
        return redirect(url_for(".case_page", number=number), code=303)
    form = FollowEmailForm()
    if not form.validate():
        context = case_context(public_case_or_404(number, *PAGE_LOADS))
        return render_template("public/case.html", **context | {"follow_email_form": form}), 422
    cases.add_follower_email(follower, form.email.data.lower(), str(get_locale()))
    db.session.commit()
    flash(_("Thank you. The case's updates will come to this address."), "success")
    return redirect(url_for(".case_page", number=number), code=303)


@bp.route("/track/<token>/rate", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_FOLLOW"])
def rate(token: str) -> Response | tuple[str, int]:
    """Record the reporter's rating of the answer."""
    return _resident_action(
        token,
        "rating_form",
        lambda case, form: cases.rate(
            db.session, case, form.rating.data, form.comment.data or "", utcnow()
        ),
        done=_("Thank you for your rating."),
        refused=_("This case cannot be rated now."),
    )


@bp.route("/track/<token>/reopen", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_FOLLOW"])
def reopen(token: str) -> Response | tuple[str, int]:
    """Send the case back because the problem was not really fixed."""
    return _resident_action(
        token,
        "reopen_form",
        lambda case, form: cases.reopen(db.session, case, form.reason.data, utcnow()),
        done=_("The case was reopened and sent back for rework."),
        refused=_("This case can no longer be reopened."),
    )


TRACKING_FORMS = {
    "rating_form": RatingForm,
    "reopen_form": ReopenForm,
    "info_form": InfoForm,
    "updates_form": FollowEmailForm,
}


@bp.route("/track/<token>/updates", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_FOLLOW"])
def reporter_updates(token: str) -> Response | tuple[str, int]:
    """Send the case's updates to the reporter's e-mail (not a "me too" on their own case)."""
    return _resident_action(
        token,
        "updates_form",
        lambda case, form: cases.add_reporter_email(
            case, form.email.data.lower(), str(get_locale())
        ),
        done=_("Thank you. The case's updates will come to this address."),
        refused=_("The case's updates already go to the e-mail given with the report."),
    )


@bp.route("/track/<token>/info", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_FOLLOW"])
def add_info(token: str) -> Response | tuple[str, int]:
    """Answer the office's question; the clocks run again."""

    def answer(case: Case, form: FlaskForm) -> None:
        try:
            workflow.resume(db.session, case, None, form.body.data, utcnow())
        except workflow.WorkflowError as error:
            raise cases.CaseError(error.code) from error

    return _resident_action(
        token,
        "info_form",
        answer,
        done=_("Thank you. The office has your answer."),
        refused=_("The office is not waiting for information on this case."),
    )


def _resident_action(
    token: str, form_name: str, act: Callable[[Case, FlaskForm], None], done: str, refused: str
) -> Response | tuple[str, int]:
    """Validate one of the reporter's forms, act on the case, and say how it went."""
    case = cases.find_by_token(db.session, token) or abort(404)
    forms = {name: form(formdata=None) for name, form in TRACKING_FORMS.items()}
    form = forms[form_name] = TRACKING_FORMS[form_name]()
    status = 422
    if form.validate():
        try:
            act(case, form)
        except cases.CaseError:
            # Refused (the case moved on meanwhile): the page comes back with what was typed.
            db.session.rollback()
            flash(refused, "error")
            status = 409
        else:
            db.session.commit()
            flash(done, "success")
            return redirect(url_for(".track", token=token), code=303)
    context = case_context(case) | forms | feedback_context(case) | {"token": token}
    return render_template("public/case.html", **context), status


def list_filters() -> tuple[CaseFilterForm, case_search.CaseFilters, ZoneInfo]:
    """Read the public list's filters from the request (the list and its CSV share them)."""
    form = CaseFilterForm(request.args)
    form.state.choices = [("", _("All states"))] + [(s, s) for s in STATES]
    form.validate()
    days = date_filters.day_range(form.since.data, form.until.data)
    for name, message in days.errors.items():
        form[name].errors = [*form[name].errors, message]
    filters = case_search.CaseFilters(
        q=(form.q.data or "")[:100],
        state=form.state.data if form.state.data in STATES else "",
        category=form.category.data or "",
        zone=form.zone.data or "",
        since=days.since,
        until=days.until,
    )
    return form, filters, ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


@bp.route("/cases")
def case_list() -> str:
    """List public cases with filters and pages."""
    form, filters, tz = list_filters()
    warn_unsearchable(filters.q)
    page = case_search.list_page(filters, tz, page_number(), PAGE_SIZE)
    # The filter lists and the rows' words as plain strings, each translated once per page.
    english = in_english()

    def named(rows) -> list[tuple[str, str]]:
        return [(r.code, r.name_en if english and r.name_en else r.name_zh) for r in rows]

    names = (Category.code, Category.name_zh, Category.name_en)
    categories = db.session.execute(select(*names).order_by(Category.sort_order))
    names = (Zone.code, Zone.name_zh, Zone.name_en)
    zones = db.session.execute(select(*names).where(Zone.level != "grid").order_by(Zone.code))
    return render_template(
        "public/cases.html",
        form=form,
        page=page,
        categories=named(categories),
        zones=named(zones),
        states=STATES,
        state_names={s: state_label(s) for s in STATES},
        case_path=url_for("public.case_page", number="NUMBER"),
    )


@bp.route("/photos/<sha256>.jpg", defaults={"variant": "full"})
@bp.route("/photos/<sha256>.thumb.jpg", defaults={"variant": "thumb"})
@limiter.exempt
def photo(sha256: str, variant: str = "full") -> Response:
    """Serve a stored photo of a public case."""
    shown = db.session.scalar(
        select(Photo.id)
        .join(Photo.case)
        .where(Photo.sha256 == sha256, Photo.hidden.is_(False), Case.is_public)
    )
    if shown is None:
        abort(404)
    # Stored by content hash: the same address always answers the same bytes.
    return store_for_app().response(sha256, variant, public=True, max_age=31536000)
