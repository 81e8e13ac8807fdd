"""Dispatchers and admins: consultations with their moderation queue, and suggestions."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.forms import ConsultationForm, DecisionForm, ResponseForm
from portal.extensions import db
from portal.models import (
    CONSULTED_PHASES,
    Consultation,
    ConsultationComment,
    Project,
    Suggestion,
    utcnow,
)
from portal.services import consultations, suggestions

REFUSALS = {
    "phase": lambda: _("Only projects being planned (approval or tender) can be consulted on."),
    "date": lambda: _("The closing date cannot be in the past."),
    "text": lambda: _("Give a title and say what the public is asked."),
    "reason": lambda: _("Give a reason."),
    "decided": lambda: _("This was already decided."),
    "open": lambda: _("The consultation is still open: respond once it has closed."),
    "responded": lambda: _("The response was already published."),
    "response": lambda: _("Write the response summary."),
}


def _refused(error: ValueError) -> None:
    db.session.rollback()
    flash(REFUSALS.get(error.args[0], lambda: _("This cannot be done now."))(), "error")


@bp.route("/consultations")
@dispatcher_required
def consultation_admin() -> str:
    """List the consultations and the comments waiting for moderation."""
    listed = db.session.scalars(
        select(Consultation).order_by(Consultation.closes_on.desc(), Consultation.id.desc())
    ).all()
    pending = dict(
        db.session.execute(
            select(ConsultationComment.consultation_id, func.count())
            .where(ConsultationComment.status == "pending", ConsultationComment.held.is_(False))
            .group_by(ConsultationComment.consultation_id)
        ).all()
    )
    return render_template(
        "admin/consultations.html",
        consultations=listed,
        pending=pending,
        queue=consultations.pending_comments(db.session),
        form=DecisionForm(),
        now=utcnow(),
        is_open=consultations.is_open,
    )


@bp.route("/consultations/new", methods=["GET", "POST"])
@dispatcher_required
def consultation_new() -> Response | tuple[str, int]:
    """Open a planned project for public comments."""
    form = ConsultationForm()
    projects = db.session.scalars(
        select(Project).where(Project.phase.in_(CONSULTED_PHASES)).order_by(Project.code)
    ).all()
    form.project.choices = [(p.code, f"{p.code} {p.name}") for p in projects]
    if form.validate_on_submit():
        project = next(p for p in projects if p.code == form.project.data)
        try:
            made = consultations.start(
                db.session,
                current_user,
                project,
                form.title.data,
                form.question.data,
                form.closes_on.data,
                utcnow(),
            )
        except consultations.ConsultationError as error:
            db.session.rollback()
            form.closes_on.errors.append(REFUSALS[error.args[0]]())
        else:
            db.session.commit()
            flash(_("The consultation is open."), "success")
            return redirect(url_for(".consultation_detail", consultation_id=made.id), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template("admin/consultation_form.html", form=form), status


@bp.route("/consultations/<int:consultation_id>")
@dispatcher_required
def consultation_detail(consultation_id: int) -> str:
    """Show a consultation with every comment and the contact left by each commenter."""
    consultation = db.session.get(Consultation, consultation_id) or abort(404)
    now = utcnow()
    return render_template(
        "admin/consultation.html",
        consultation=consultation,
        form=DecisionForm(),
        response_form=ResponseForm(),
        is_open=consultations.is_open(consultation, now),
        has_closed=consultations.has_closed(consultation, now),
    )


@bp.route("/consultations/<int:consultation_id>/response", methods=["POST"])
@dispatcher_required
def consultation_respond(consultation_id: int) -> Response:
    """Publish the office's response summary to a closed consultation."""
    consultation = db.session.get(Consultation, consultation_id) or abort(404)
    form = ResponseForm()
    if not form.validate():
        flash(_("Write the response summary."), "error")
    else:
        try:
            consultations.respond(
                db.session, current_user, consultation, form.response.data, utcnow()
            )
        except consultations.ConsultationError as error:
            _refused(error)
        else:
            db.session.commit()
            flash(_("The response is published."), "success")
    return redirect(url_for(".consultation_detail", consultation_id=consultation.id), code=303)


@bp.route("/comments/<int:comment_id>/<decision>", methods=["POST"])
@dispatcher_required
def moderate(comment_id: int, decision: str) -> Response:
    """Approve a pending comment, or decline it with a reason."""
    comment = db.session.get(ConsultationComment, comment_id) or abort(404)
    form = DecisionForm()
    if decision not in ("approve", "decline") or not form.validate():
        abort(400)
    try:
        if decision == "approve":
            consultations.approve(db.session, current_user, comment, utcnow())
        else:
            consultations.decline(
                db.session, current_user, comment, form.reason.data or "", utcnow()
            )
    except consultations.ConsultationError as error:
        _refused(error)
    else:
        db.session.commit()
        flash(_("Done."), "success")
    back = request.args.get("back") == "consultation"
    target = (
        url_for(".consultation_detail", consultation_id=comment.consultation_id)
        if back
        else url_for(".consultation_admin")
    )
    return redirect(target, code=303)


@bp.route("/suggestions")
@dispatcher_required
def suggestion_admin() -> str:
    """List suggestions, new ones first, with the residents' private contact."""
    listed = db.session.scalars(
        select(Suggestion)
        .where(Suggestion.held.is_(False))
        .order_by(Suggestion.status != "new", Suggestion.created_at.desc())
    ).all()
    return render_template("admin/suggestions.html", suggestions=listed, form=DecisionForm())


@bp.route("/suggestions/<int:suggestion_id>/<decision>", methods=["POST"])
@dispatcher_required
def decide_suggestion(suggestion_id: int, decision: str) -> Response:
    """Adopt a suggestion (awarding points) or decline it, each with a reason."""
    suggestion = db.session.get(Suggestion, suggestion_id) or abort(404)
    form = DecisionForm()
    if decision not in ("adopt", "decline") or not form.validate():
        abort(400)
    act = suggestions.adopt if decision == "adopt" else suggestions.decline
    try:
        act(db.session, current_user, suggestion, form.reason.data or "", utcnow())
    except suggestions.SuggestionError as error:
        _refused(error)
    else:
        db.session.commit()
        flash(_("Done."), "success")
    return redirect(url_for(".suggestion_admin"), code=303)
