"""Consultations: the list, a consultation with its approved comments, commenting, and the
commenter's private page."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from portal.extensions import db, limiter
from portal.models import Consultation, ConsultationComment, utcnow
from portal.public import bp, private_links
from portal.public.forms import CommentForm
from portal.services import blocklist, consultations


def _visible_or_404(consultation_id: int) -> Consultation:
    """Return a consultation that has opened, or answer 404."""
    consultation = db.session.get(Consultation, consultation_id)
    if consultation is None or consultation.opens_at > utcnow():
        abort(404)
    return consultation


def _page(consultation: Consultation, form: CommentForm) -> str:
    now = utcnow()
    return render_template(
        "public/consultation.html",
        consultation=consultation,
        comments=consultations.approved_comments(db.session, consultation),
        is_open=consultations.is_open(consultation, now),
        form=form,
    )


@bp.route("/consultations")
def consultation_list() -> str:
    """List open consultations first, then closed ones with the office's response."""
    open_, closed = consultations.public(db.session, utcnow())
    return render_template("public/consultations.html", open=open_, closed=closed)


@bp.route("/consultations/<int:consultation_id>")
def consultation_page(consultation_id: int) -> str:
    """Show a consultation, its project, approved comments, and the form while it is open."""
    return _page(_visible_or_404(consultation_id), CommentForm())


@bp.route("/consultations/<int:consultation_id>/comments", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_COMMENT"])
def comment(consultation_id: int) -> Response | tuple[str, int]:
    """Take a comment for moderation and show the commenter their private link."""
    consultation = _visible_or_404(consultation_id)
    form = CommentForm()
    if not consultations.is_open(consultation, utcnow()):
        return _page(consultation, form), 409
    if not form.validate_on_submit():
        return _page(consultation, form), 422
    made, token = consultations.add_comment(
        db.session,
        consultation,
        form.body.data,
        utcnow(),
        display_name=form.display_name.data or "",
        email=form.email.data or "",
        phone=form.phone.data or "",
        locale=str(get_locale()),
        held_by=blocklist.match(
            db.session,
            utcnow(),
            ip=request.remote_addr or "",
            email=form.email.data or "",
            phone=form.phone.data or "",
        ),
    )
    db.session.commit()
    private_links.remember("comment", made.id, token)
    return redirect(url_for(".comment_sent", comment_id=made.id), code=303)


@bp.route("/consultations/comments/<int:comment_id>/sent")
def comment_sent(comment_id: int) -> Response | str:
    """Thank the commenter and give them the private link to their comment."""
    token = private_links.recall("comment", comment_id)
    made = db.session.get(ConsultationComment, comment_id)
    if made is None or token is None:
        return redirect(url_for(".consultation_list"))
    return render_template("public/comment_sent.html", comment=made, token=token)


@bp.route("/consultations/comment/<token>")
def comment_status(token: str) -> str:
    """Show the commenter whether their comment is shown, and why not if declined."""
    found = consultations.find_comment(db.session, token) or abort(404)
    return render_template("public/comment_status.html", comment=found)
