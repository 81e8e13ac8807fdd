"""Reporting a problem: the form, its checks and the confirmation."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from portal.extensions import db, limiter
from portal.models import Case, Category, CategoryGroup, utcnow
from portal.public import bp
from portal.public.forms import ReportForm
from portal.services import blocklist, cases, geo, intake, photos, service_area

TRACKED_IN_SESSION = 10


def category_groups() -> list[CategoryGroup]:
    """Return the groups of active categories, in display order."""
    groups = db.session.scalars(select(CategoryGroup).order_by(CategoryGroup.sort_order)).all()
    return [g for g in groups if any(c.active for c in g.categories)]


def read_photos(form: ReportForm) -> list[photos.ProcessedPhoto] | None:
    """Process the uploaded photos; None (with errors on the form) if any is refused."""
    files: list[FileStorage] = [f for f in request.files.getlist("photos") if f and f.filename]
    processed, refused = intake.process_uploads((f.filename, f.stream, f.mimetype) for f in files)
    form.photos.errors.extend(refused)
    return None if refused else processed


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


def locate(form: ReportForm, processed: list[photos.ProcessedPhoto]) -> tuple[float, float] | None:
    """Place the report: the pin, else the photo's GPS, else the geocoded address."""
    position = form.position() or next((p.gps for p in processed if p.gps), None)
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


def checked_report(
    form: ReportForm, **overrides: object
) -> tuple[cases.Report, list[photos.ProcessedPhoto]] | None:
    """Check the whole form at once (fields, photos, place), so every mistake shows in one
    go; return the report and its processed photos, or None with the errors on the form."""
    form_ok = form.validate_on_submit()
    processed = read_photos(form)
    position = None if form.lat.errors else locate(form, processed or [])
    category = intake.active_category(db.session, form.category.data or "")
    answers = read_answers(form, category)
    if not form_ok or processed is None or position is None or answers is None:
        return None
    fields = {
        "category": category,
        "attributes": answers,
        "lat": position[0],
        "lng": position[1],
        "description": form.description.data,
        "address": form.address.data or "",
        "name": form.name.data or "",
        "phone": form.phone.data or "",
        "email": (form.email.data or "").lower(),
        "hide_name": bool(form.hide_name.data),
        "locale": str(get_locale()),
    }
    return cases.Report(**(fields | overrides)), processed


@bp.route("/report/new", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_REPORT"], methods=["POST"])
def report_new() -> Response | tuple[str, int]:
    """Show the report form and open a case from it."""
    form = ReportForm()
    groups = category_groups()
    form.category.choices = [(c.code, c.name) for g in groups for c in g.categories if c.active]
    nearby: list = []
    checked = checked_report(form) if request.method == "POST" else None
    if checked is not None:
        report, processed = checked
        missing_photo = intake.photo_problem(report.category, processed)
        if missing_photo is not None:
            form.photos.errors.append(missing_photo)
        else:
            radius = current_app.config["NEARBY_RADIUS_M"]
            nearby = cases.nearby_open(db.session, report.category, report.lat, report.lng, radius)
            if not nearby or form.nearby_checked.data:
                report.held_by = blocklist.match(
                    db.session,
                    utcnow(),
                    ip=request.remote_addr or "",
                    email=report.email,
                    phone=report.phone,
                )
                store = photos.PhotoStore(current_app.config["UPLOAD_DIR"])
                case, token = cases.submit(db.session, report, processed, store, utcnow())
                db.session.commit()
                remember_tracking(case.number, token)
                return redirect(url_for(".report_done", number=case.number), code=303)
            form.nearby_checked.data = "1"
    status = 200 if request.method == "GET" else 422
    return render_template("public/report.html", form=form, groups=groups, nearby=nearby), status


@bp.route("/report/done/<number>")
def report_done(number: str) -> Response | str:
    """Confirm a report with its case number and private link."""
    token = dict(session.get("tracking", [])).get(number)
    case = db.session.scalar(select(Case).where(Case.number == number))
    if case is None or token is None:
        return redirect(url_for(".case_page", number=number))
    return render_template("public/report_done.html", case=case, token=token)
