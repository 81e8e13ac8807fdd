"""Reporting a problem: the form, its checks and the confirmation. Nothing a resident typed
or picked is lost on a refusal: the text comes back, the checked photos are kept as pending
photos of the form, and a rate limit answers with the form itself."""

from __future__ import annotations

import dataclasses
import math
import time
from datetime import datetime

from flask import (
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from portal.extensions import db, limiter
from portal.models import Case, Category, CategoryGroup, Facility, PendingPhoto, utcnow
from portal.public import bp
from portal.public.forms import ReportForm, SendLinkForm
from portal.services import (
    blocklist,
    case_links,
    cases,
    facilities,
    geo,
    intake,
    pending_photos,
    photos,
    service_area,
    storage,
)

TRACKED_IN_SESSION = 10
# The failed-tries limit has its own bucket, told apart from the accepted-report one.
FAILED_SCOPE = "failed"


def category_groups() -> list[CategoryGroup]:
    """Return the groups of active categories, in display order."""
    groups = db.session.scalars(select(CategoryGroup).order_by(CategoryGroup.sort_order)).all()
    return [group for group in groups if any(c.active for c in group.categories)]


def upload_photos(form: ReportForm, room: int | None = None) -> list[photos.ProcessedPhoto]:
    """Process the uploaded photos (at most `room` more, when some are kept already); return
    those accepted, with the refusals as errors on the form."""
    files: list[FileStorage] = [f for f in request.files.getlist("photos") if f and f.filename]
    processed, refused = intake.process_uploads(
        ((f.filename, f.stream, f.mimetype) for f in files), limit=room
    )
    form.photos.errors.extend(refused)
    return processed


def read_photos(form: FlaskForm) -> list[photos.ProcessedPhoto] | None:
    """Process the uploaded photos; None (with errors on the form) if any is refused."""
    errors_before = len(form.photos.errors)
    processed = upload_photos(form)  # type: ignore[arg-type]
    return None if len(form.photos.errors) > errors_before else processed


def answer_field(category: Category, code: str) -> str:
    """Return the form field name of one of a category's questions."""
    return f"attr-{category.code}-{code}"


def read_answers(form: ReportForm, category: Category | None) -> dict[str, object] | None:
    """Check the answers to the chosen category's questions; None (with the errors kept on
    the form as `answer_errors`) if any is wrong."""
    form.answer_errors = {}
    if category is None:
        return {}
    given = {
        q.code: request.form.getlist(answer_field(category, q.code)) for q in category.attributes
    }
    answers, problems = intake.check_answers(category, given)
    form.answer_errors = {answer_field(category, code): p for code, p in problems.items()}
    return None if problems else answers


def locate(form: ReportForm, gps: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Place the report: the pin, else a photo's GPS, else the geocoded address."""
    position = form.position() or next(iter(gps), None)
    position = position or geo.geocode(form.address.data or "")
    if position is None:
        form.lat.errors.append(
            _("Choose the place: click the map, use your location, or type coordinates.")
        )
        return None
    outside = service_area.refusal(db.session, *position)
    if outside is not None:
        form.lat.errors.append(outside)
        return None
    return position


def remember_tracking(number: str, token: str) -> None:
    """Keep the private link in this browser's session so the confirmation can show it."""
    tracked = [t for t in session.get("tracking", []) if t[0] != number]
    session["tracking"] = [[number, token], *tracked][:TRACKED_IN_SESSION]


def store() -> photos.PhotoStore:
    """Return the photo store, one per request: it knows which files this request created."""
    if "report_store" not in g:
        g.report_store = photos.store_for_app()
    return g.report_store


def prepared_form() -> tuple[ReportForm, list[CategoryGroup]]:
    """Return the report form with its categories and a form token for its photos."""
    form = ReportForm()
    groups = category_groups()
    form.category.choices = [
        (c.code, c.name) for group in groups for c in group.categories if c.active
    ]
    if not pending_photos.is_form_token(form.upload_token.data):
        form.upload_token.data = pending_photos.new_form_token()
    return form, groups


def kept_photos(form: ReportForm, now: datetime) -> list[PendingPhoto]:
    """Drop the pending photos the resident ticked to remove; return the others."""
    token = form.upload_token.data
    removed = [int(v) for v in request.form.getlist("remove_photo") if v.isdigit()]
    pending_photos.remove(db.session, token, removed)
    return pending_photos.kept(db.session, token, now)


def checked_fields(
    form: FlaskForm, form_ok: bool, gps: list[tuple[float, float]]
) -> cases.Report | None:
    """Check the rest of the form (place, answers), so every mistake shows in one go; return
    the report, or None with the errors on the form."""
    position = None if form.lat.errors else locate(form, gps)  # type: ignore[arg-type]
    category = intake.active_category(db.session, form.category.data or "")
    answers = read_answers(form, category)  # type: ignore[arg-type]
    if not form_ok or form.photos.errors or position is None or answers is None:
        return None
    if category is None:
        return None
    return cases.Report(
        category=category,
        attributes=answers,
        lat=position[0],
        lng=position[1],
        description=form.description.data,
        address=form.address.data or "",
        name=form.name.data or "",
        phone=form.phone.data or "",
        email=(form.email.data or "").lower(),
        hide_name=bool(form.hide_name.data),
        locale=str(get_locale()),
    )


def checked_report(
    form: FlaskForm, **overrides: object
) -> tuple[cases.Report, list[photos.ProcessedPhoto]] | None:
    """Check a whole case form at once (fields, photos, place); return the report and its
    processed photos, or None with the errors on the form. The back office's entry form."""
    form_ok = form.validate_on_submit()
    processed = read_photos(form)
    report = checked_fields(form, form_ok, [p.gps for p in processed or [] if p.gps])
    if report is None or processed is None:
        return None
    return dataclasses.replace(report, **overrides), processed  # type: ignore[arg-type]


def checked_resident_report(
    form: ReportForm,
    form_ok: bool,
    kept: list[PendingPhoto],
    new: list[photos.ProcessedPhoto],
) -> cases.Report | None:
    """Check a resident's report, its kept and new photos counted together."""
    gps = [p.gps for p in new if p.gps] + [(k.gps_lat, k.gps_lng) for k in kept if k.gps_lat]
    report = checked_fields(form, form_ok, gps)  # type: ignore[arg-type]
    if report is None:
        return None
    missing_photo = intake.photo_problem(report.category, [*kept, *new])
    if missing_photo is not None:
        form.photos.errors.append(missing_photo)
        return None
    return report


def offer_nearby(form: ReportForm, report: cases.Report) -> list[tuple[Case, float]]:
    """Return the open cases nearby to offer before this report, unless the resident was
    shown exactly these (or more) and sent the report anyway; record what is offered now."""
    radius = current_app.config["NEARBY_RADIUS_M"]
    nearby = cases.nearby_open(db.session, report.category, report.lat, report.lng, radius)
    declined = intake.declined_offer(form.nearby_declined.data)
    offered = {c.id for c, _d in nearby}
    if offered <= declined:
        return []
    form.nearby_declined.data = intake.sign_offer(offered | declined)
    return nearby


def listed_facilities(
    form: ReportForm, position: tuple[float, float] | None = None
) -> list[tuple[Facility, float]]:
    """Return the facilities to list under the chosen category: those of its type near the
    pin, nearest first, with the picked one kept in the list even if the pin moved away."""
    category = intake.active_category(db.session, form.category.data or "")
    position = position or form.position()
    if category is None or category.facility_type_id is None or position is None:
        return []
    if not geo.is_valid_position(*position):
        return []
    radius = current_app.config["FACILITY_NEARBY_RADIUS_M"]
    listed = facilities.nearby(db.session, category.facility_type_id, *position, radius, 8)
    picked = facilities.by_code(db.session, form.facility.data or "")
    if (
        picked is not None
        and picked.type_id == category.facility_type_id
        and all(f.id != picked.id for f, _d in listed)
    ):
        listed.insert(0, (picked, facilities.distance_to(picked, *position)))
    return listed


def pick_facility(
    form: ReportForm, report: cases.Report
) -> tuple[cases.Report | None, list[tuple[Facility, float]]]:
    """Check the facility the resident picked and snap the report's pin to it; offer the
    nearby ones once if none is picked. Return the report (None if it must wait: a wrong
    pick, with the error on the form, or the offer) and the facilities to list."""
    listed = listed_facilities(form, (report.lat, report.lng))
    if report.category.facility_type_id is None:
        form.facility.data = ""  # left from another category: not shown, not kept
    code = form.facility.data or ""
    if code:
        try:
            picked = facilities.check_pick(
                db.session, report.category, code, report.lat, report.lng
            )
        except facilities.FacilityError as error:
            form.facility.errors.append(facilities.problem_text(error))
            return None, listed
        snap_pin(form, picked)
        return dataclasses.replace(report, facility=picked, lat=picked.lat, lng=picked.lng), listed
    if listed and form.facilities_offered.data != "1":
        form.facilities_offered.data = "1"
        return None, listed
    return report, listed


def snap_pin(form: ReportForm, facility: Facility) -> None:
    """Put the form's pin on a facility."""
    form.lat.data, form.lng.data = f"{facility.lat:.6f}", f"{facility.lng:.6f}"


def personal_data_unseen(form: ReportForm, report: cases.Report) -> bool:
    """Tell whether the description seems to hold someone's phone or ID number and the
    resident has not been told yet; mark the form as told (a second send goes through)."""
    if form.personal_data_seen.data == "1" or not intake.personal_data(report.description):
        return False
    form.personal_data_seen.data = "1"
    return True


def render_form(
    form: ReportForm,
    groups: list[CategoryGroup],
    status: int,
    nearby: list | None = None,
    kept: list[PendingPhoto] | None = None,
    limited: str = "",
    listed: list[tuple[Facility, float]] | None = None,
    personal_data_warning: bool = False,
) -> Response:
    """Render the report form with everything typed, the kept photos and any offer."""
    if listed is None:
        listed = listed_facilities(form) if not form.lat.errors else []
    if listed:
        form.facilities_offered.data = "1"
    for facility, distance in listed:  # a kept pick keeps the pin on it
        if facility.code == form.facility.data and distance <= facilities.attach_radius():
            snap_pin(form, facility)
    page = render_template(
        "public/report.html",
        form=form,
        groups=groups,
        nearby=nearby or [],
        kept=kept or [],
        limited=limited,
        listed=listed,
        facility_types={
            c.code: c.facility_type.code
            for group in groups
            for c in group.categories
            if c.active and c.facility_type is not None
        },
        state_label=facilities.state_label,
        personal_data_warning=personal_data_warning,
        pending_link=lambda row: url_for(".pending_photo", key=pending_photos.link_key(row)),
    )
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"  # the page links to this form's photos
    return response


def accepted(response: Response) -> bool:
    """Tell whether a report was accepted (it redirects to the confirmation)."""
    return response.status_code == 303


def refused(response: Response) -> bool:
    """Tell whether a try was refused (errors, an offer or a limit)."""
    return not accepted(response)


def breached_answer(_limit: RequestLimit) -> Response:
    """Answer a limited try with the form itself: everything typed and picked kept, and when
    to try again. Rendered once however many limits the try broke."""
    if "report_limited" not in g:
        g.report_limited = limited_form()
    return g.report_limited


def limited_form() -> Response:
    """Render the form of a try refused by a rate limit, keeping what it carried."""
    breached = [lim for lim in limiter.current_limits if lim.breached]
    try:
        seconds = max(lim.reset_at for lim in breached) - time.time()
    except Exception:  # the limiter's storage may be down: say "about a minute"
        seconds = 60
    minutes = max(1, math.ceil(seconds / 60))
    form, groups = prepared_form()
    now = utcnow()
    kept = kept_photos(form, now)
    # Past the failed-tries limit, new files are no longer processed nor stored: that limit
    # is what bounds the work and the disk one address can ask of the server.
    if not any(lim.request_args[-1].endswith(f":{FAILED_SCOPE}") for lim in breached):
        form.photos.errors = []
        room = current_app.config["MAX_PHOTOS"] - len(kept)
        kept += pending_photos.keep(
            db.session, store(), form.upload_token.data, upload_photos(form, room), now
        )
    db.session.commit()
    message = _(
        "Too many requests. Nothing was saved. Please try again in %(n)d minutes.", n=minutes
    )
    return render_form(form, groups, 429, kept=kept, limited=message)


@bp.route("/report/new", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_REPORT"],
    methods=["POST"],
    deduct_when=accepted,
    on_breach=breached_answer,
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_REPORT_FAILED"],
    methods=["POST"],
    deduct_when=refused,
    on_breach=breached_answer,
    scope=FAILED_SCOPE,
)
def report_new() -> Response:
    """Show the report form and open a case from it."""
    form, groups = prepared_form()
    if request.method == "GET":
        return render_form(form, groups, 200)
    try:
        return submit_report(form, groups)
    except storage.StoreUnavailable as error:
        # Nothing is saved; the form comes back with all that was typed and picked.
        db.session.rollback()
        current_app.logger.warning("object store unavailable: %s", error)
        form.photos.errors.append(
            _(
                "The photos cannot be stored right now, so nothing was saved. Please send "
                "the form again in a minute (add the photos again)."
            )
        )
        kept = pending_photos.kept(db.session, form.upload_token.data, utcnow())
        response = render_form(form, groups, 503, kept=kept)
        response.headers["Retry-After"] = "60"
        return response


def submit_report(form: ReportForm, groups: list[CategoryGroup]) -> Response:
    """Check a sent report form; open the case, or answer the form with what to fix."""
    now = utcnow()
    if request.form.get("show_facilities"):
        return facilities_step(form, groups, now)
    form_ok = form.validate_on_submit()
    kept = kept_photos(form, now)
    new = upload_photos(form, current_app.config["MAX_PHOTOS"] - len(kept))
    report = checked_resident_report(form, form_ok, kept, new)
    listed = None
    if report is not None:
        report, listed = pick_facility(form, report)
    nearby = offer_nearby(form, report) if report is not None else []
    token = form.upload_token.data
    warn = report is not None and not nearby and personal_data_unseen(form, report)
    if report is None or nearby or warn:
        kept += pending_photos.keep(db.session, store(), token, new, now)
        db.session.commit()
        return render_form(
            form,
            groups,
            422,
            nearby=nearby,
            kept=kept,
            listed=listed,
            personal_data_warning=warn,
        )
    report.held_by = blocklist.match(
        db.session, now, ip=request.remote_addr or "", email=report.email, phone=report.phone
    )
    pending_photos.keep(db.session, store(), token, new, now)
    case, tracking = cases.submit(db.session, report, [], store(), now)
    pending_photos.attach(db.session, store(), case, token, now)
    db.session.commit()
    remember_tracking(case.number, tracking)
    return redirect(url_for(".report_done", number=case.number), code=303)


def facilities_step(form: ReportForm, groups: list[CategoryGroup], now: datetime) -> Response:
    """List the facilities near the pin for the chosen category, the form kept as typed
    (its photos too): the step that lets a browser without JavaScript pick one."""
    if form.meta.csrf:
        try:
            validate_csrf(form.csrf_token.data)
        except ValidationError as error:
            form.csrf_token.errors = [str(error.args[0] if error.args else error)]
            return render_form(form, groups, 400, listed=[])
    form.photos.errors = []  # the form is not validated in this step: only its photos are
    kept = kept_photos(form, now)
    new = upload_photos(form, current_app.config["MAX_PHOTOS"] - len(kept))
    kept += pending_photos.keep(db.session, store(), form.upload_token.data, new, now)
    db.session.commit()
    return render_form(form, groups, 200, kept=kept)


@bp.route("/report/photos/<key>.jpg")
@limiter.exempt
def pending_photo(key: str) -> Response:
    """Serve the thumbnail of a report form's pending photo to that form (a signed link)."""
    row = pending_photos.from_link_key(db.session, key, utcnow())
    if row is None:
        abort(404)
    return store().response(row.sha256, "thumb", public=False, max_age=0)


@bp.route("/report/done/<number>")
def report_done(number: str) -> Response | str:
    """Confirm a report with its case number, query code and private link."""
    context = confirmation_context(number)
    if context is None:
        return redirect(url_for(".case_page", number=number))
    return render_template("public/report_done.html", **context)


def confirmation_context(number: str) -> dict | None:
    """Return what the confirmation shows, if this browser reported the case (else None)."""
    token = dict(session.get("tracking", [])).get(number)
    case = db.session.scalar(select(Case).where(Case.number == number))
    if case is None or token is None:
        return None
    return {
        "case": case,
        "token": token,
        "query_code": case_links.query_code(token),
        "send_form": SendLinkForm(),
        "sent": request.args.get("sent") == "1",
    }
