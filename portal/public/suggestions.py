"""Suggestions: sending one, the public list of adopted ones, and the private tracking page."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.extensions import db, limiter
from portal.models import Project, Suggestion, utcnow
from portal.public import bp, private_links
from portal.public.forms import SuggestionForm
from portal.services import blocklist, suggestions


@bp.route("/suggestions")
def suggestion_list() -> str:
    """List the adopted suggestions with the office's answers."""
    return render_template("public/suggestions.html", suggestions=suggestions.adopted(db.session))


@bp.route("/suggestions/new", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SUGGESTION"], methods=["POST"])
def suggestion_new() -> Response | tuple[str, int]:
    """Show the suggestion form and record a suggestion from it."""
    form = SuggestionForm()
    projects = db.session.scalars(select(Project).order_by(Project.code)).all()
    form.project.choices = [("", "—")] + [(p.code, f"{p.code} {p.name}") for p in projects]
    if request.method == "GET" and request.args.get("project"):
        form.project.data = request.args["project"]
    if form.validate_on_submit():
        supervisor = current_user if getattr(current_user, "role", None) == "supervisor" else None
        made, token = suggestions.send(
            db.session,
            form.title.data,
            form.body.data,
            utcnow(),
            project=next((p for p in projects if p.code == form.project.data), None),
            email=form.email.data or "",
            phone=form.phone.data or "",
            user=supervisor,
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
        private_links.remember("suggestion", made.id, token)
        return redirect(url_for(".suggestion_sent", suggestion_id=made.id), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template("public/suggestion_form.html", form=form), status


@bp.route("/suggestions/<int:suggestion_id>/sent")
def suggestion_sent(suggestion_id: int) -> Response | str:
    """Thank the resident and give them the private tracking link."""
    token = private_links.recall("suggestion", suggestion_id)
    made = db.session.get(Suggestion, suggestion_id)
    if made is None or token is None:
        return redirect(url_for(".suggestion_list"))
    return render_template("public/suggestion_sent.html", suggestion=made, token=token)


@bp.route("/suggestions/track/<token>")
def suggestion_track(token: str) -> str:
    """Show the resident the state of their suggestion, the answer and the points earned."""
    found = suggestions.find(db.session, token) or abort(404)
    return render_template("public/suggestion_track.html", suggestion=found)
