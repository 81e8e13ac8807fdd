"""Dispatchers and admins write progress notices, preview, publish or schedule, withdraw.

Handlers do not come here: a notice speaks for the office, and they can read it on the
public site like everyone else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.forms import NoticeForm, PublishForm, SimpleForm, WithdrawForm
from portal.extensions import db
from portal.models import Notice, Project, Zone, utcnow
from portal.public.notices import cover_file
from portal.services import intake, notices, photos
from portal.web import page_number

PAGE_SIZE = 50


def notice_or_404(notice_id: int) -> Notice:
    """Return a notice by id, or answer 404."""
    return db.session.get(Notice, notice_id) or abort(404)


def office_zone() -> ZoneInfo:
    """Return the office's time zone, in which staff enter dates."""
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def notice_error(error: notices.NoticeError) -> str:
    """Return the translated explanation of a refused notice action."""
    code = error.args[0]
    if code == "cases":
        return _("No such case: %(numbers)s", numbers=", ".join(error.args[1]))
    return {
        "state": _("This notice can no longer be changed in this way."),
        "past": _("Choose a moment in the future, or publish now."),
        "reason": _("Give the reason for the withdrawal."),
    }.get(code, _("Not saved."))


@bp.route("/notices")
@dispatcher_required
def notice_admin_list() -> str:
    """List every notice with its status."""
    page = db.paginate(
        notices.admin_list(),
        page=page_number(),
        per_page=PAGE_SIZE,
        max_per_page=PAGE_SIZE,
        error_out=False,
    )
    return render_template("admin/notices.html", page=page, now=utcnow())


@bp.route("/notices/new", methods=["GET", "POST"])
@bp.route("/notices/<int:notice_id>/edit", methods=["GET", "POST"])
@dispatcher_required
def notice_form(notice_id: int | None = None) -> Response | tuple[str, int]:
    """Write a new notice or edit one that is not yet public."""
    notice = notice_or_404(notice_id) if notice_id else None
    now = utcnow()
    if notice is not None and notice.status(now) not in ("draft", "scheduled"):
        flash(_("A published notice cannot be edited; withdraw it and write a new one."), "error")
        return redirect(url_for(".notice_detail", notice_id=notice.id), code=303)
    form = NoticeForm(obj=notice)
    form.project.choices = [("", "—")] + [
        (p.code, f"{p.code} {p.name}")
        for p in db.session.scalars(select(Project).order_by(Project.code))
    ]
    form.zone.choices = [("", _("The zone of the project's site"))] + [
        (z.code, z.name)
        for z in db.session.scalars(select(Zone).where(Zone.level != "grid").order_by(Zone.code))
    ]
    if request.method == "GET" and notice is not None:
        form.project.data = notice.project.code if notice.project else ""
        form.zone.data = notice.zone.code if notice.zone else ""
        form.cases.data = " ".join(c.number for c in notice.cases)
    if form.validate_on_submit():
        cover = _read_cover(form)
        if cover is not False:
            try:
                saved = notices.save(
                    db.session,
                    current_user,
                    notice or Notice(),
                    _draft(form, cover),
                    photos.store_for_app(),
                    now,
                )
            except notices.NoticeError as error:
                db.session.rollback()
                form.cases.errors.append(notice_error(error))
            else:
                db.session.commit()
                flash(_("Draft saved. Check the preview, then publish."), "success")
                return redirect(url_for(".notice_detail", notice_id=saved.id), code=303)
    return render_template("admin/notice_form.html", form=form, notice=notice), (
        200 if request.method == "GET" else 422
    )


def _read_cover(form: NoticeForm) -> photos.ProcessedPhoto | bool | None:
    """Return the processed cover, None when none was sent, False (with an error) if refused."""
    upload = form.cover.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    processed, refused = intake.process_uploads([(upload.filename, upload.stream, upload.mimetype)])
    if refused:
        form.cover.errors = refused
        return False
    return processed[0]


def _draft(form: NoticeForm, cover: photos.ProcessedPhoto | None) -> notices.NoticeDraft:
    project = (
        db.session.scalar(select(Project).where(Project.code == form.project.data))
        if form.project.data
        else None
    )
    zone = (
        db.session.scalar(select(Zone).where(Zone.code == form.zone.data))
        if form.zone.data
        else None
    )
    return notices.NoticeDraft(
        title=form.title.data,
        body=form.body.data,
        kind=form.kind.data,
        project=project,
        zone=zone,
        case_numbers=notices.parse_case_numbers(form.cases.data or ""),
        cover=cover,
        remove_cover=bool(form.remove_cover.data),
    )


@bp.route("/notices/<int:notice_id>")
@dispatcher_required
def notice_detail(notice_id: int) -> str:
    """Preview a notice as the public will see it, with the actions its status allows."""
    notice = notice_or_404(notice_id)
    publish_form = PublishForm()
    if notice.publish_at is not None and notice.status(utcnow()) == "scheduled":
        publish_form.when.data = "at"
        local = notice.publish_at.astimezone(office_zone()).replace(tzinfo=None)
        publish_form.publish_at.data = local
    return render_template(
        "admin/notice.html",
        notice=notice,
        status=notice.status(utcnow()),
        publish_form=publish_form,
        withdraw_form=WithdrawForm(),
        unschedule_form=SimpleForm(),
    )


@bp.route("/notices/<int:notice_id>/cover.jpg")
@dispatcher_required
def notice_admin_cover(notice_id: int) -> Response:
    """Serve a notice's cover photo for the preview, whatever its status."""
    return cover_file(notice_or_404(notice_id), "full")


@bp.route("/notices/<int:notice_id>/publish", methods=["POST"])
@dispatcher_required
def notice_publish(notice_id: int) -> Response:
    """Publish a notice now, or schedule it (the time is entered in Beijing time)."""
    notice = notice_or_404(notice_id)
    form = PublishForm()
    if not form.validate_on_submit():
        flash(_("Give a valid date and time."), "error")
        return redirect(url_for(".notice_detail", notice_id=notice_id), code=303)
    at = None
    if form.when.data == "at":
        if form.publish_at.data is None:
            flash(_("Give a valid date and time."), "error")
            return redirect(url_for(".notice_detail", notice_id=notice_id), code=303)
        at = _as_utc(form.publish_at.data)
    return _act(
        notice_id,
        lambda: notices.publish(db.session, current_user, notice, utcnow(), at),
        _("Scheduled.") if at else _("Published."),
    )


@bp.route("/notices/<int:notice_id>/unschedule", methods=["POST"])
@dispatcher_required
def notice_unschedule(notice_id: int) -> Response:
    """Take a scheduled notice back to a draft."""
    notice = notice_or_404(notice_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    return _act(
        notice_id,
        lambda: notices.unschedule(db.session, current_user, notice, utcnow()),
        _("Back to draft."),
    )


@bp.route("/notices/<int:notice_id>/withdraw", methods=["POST"])
@dispatcher_required
def notice_withdraw(notice_id: int) -> Response | tuple[str, int]:
    """Withdraw a published notice with a reason the public will read."""
    notice = notice_or_404(notice_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        return render_template(
            "admin/notice.html",
            notice=notice,
            status=notice.status(utcnow()),
            publish_form=PublishForm(formdata=None),
            withdraw_form=form,
            unschedule_form=SimpleForm(formdata=None),
        ), 422
    return _act(
        notice_id,
        lambda: notices.withdraw(db.session, current_user, notice, form.reason.data, utcnow()),
        _("Withdrawn. The notice stays public, marked withdrawn with your reason."),
    )


def _act(notice_id: int, action, done: str) -> Response:
    """Run a notice action, commit, and go back to the notice with a message."""
    try:
        action()
    except notices.NoticeError as error:
        db.session.rollback()
        flash(notice_error(error), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for(".notice_detail", notice_id=notice_id), code=303)


def _as_utc(local: datetime) -> datetime:
    """Read a wall-clock time typed in the office's time zone as a UTC moment."""
    return local.replace(tzinfo=office_zone()).astimezone(UTC)
