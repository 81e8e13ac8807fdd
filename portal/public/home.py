"""Home page, language switch and health check."""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from sqlalchemy import text
from werkzeug.wrappers import Response

from portal.extensions import db, limiter
from portal.public import bp
from portal.services import case_search


@bp.route("/")
def index() -> str:
    """Show the map of cases with the latest ones beside it."""
    query = case_search.public_cases().order_by(
        case_search.Case.created_at.desc(), case_search.Case.id.desc()
    )
    latest = db.session.scalars(query.limit(15)).all()
    return render_template("public/index.html", latest=latest)


@bp.route("/lang/<code>")
def switch_language(code: str) -> Response:
    """Remember the chosen language and go back where the user was."""
    if code in ("zh_Hans_CN", "en"):
        session["lang"] = code
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = url_for(".index")
    return redirect(target)


@bp.route("/healthz")
@limiter.exempt
def healthz() -> tuple[dict, int]:
    """Answer 200 when the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}, 200
