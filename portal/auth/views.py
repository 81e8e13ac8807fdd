"""Sign in (throttled per address and per account) and sign out."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from portal.auth import bp
from portal.auth.forms import LoginForm
from portal.extensions import db, limiter
from portal.models import User, utcnow
from portal.services import accounts, two_factor

# The account whose password was right, waiting for its second factor, and until when.
PENDING = "two_factor_pending"
PENDING_FOR_SECONDS = 300


def _account_key() -> str:
    """Limit sign-in attempts per account, whatever address they come from."""
    return "login:" + (request.form.get("email", "") or "").strip().lower()[:255]


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    if current_user.is_staff:
        return url_for("admin.index")
    if current_user.role == "supervisor":
        return url_for("supervisor.index")
    return url_for("public.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"], key_func=_account_key
)
def login() -> Response | tuple[str, int]:
    """Sign a staff member or supervisor in."""
    form = LoginForm()
    if form.validate_on_submit():
        now = utcnow()
        user = accounts.authenticate(db.session, form.email.data, form.password.data, now)
        db.session.commit()
        if user is not None:
            if two_factor.is_enabled(db.session, user):
                return _second_step(user, now)
            login_user(user)
            return redirect(_safe_next(request.args.get("next")), code=303)
        form.password.errors.append(
            _(
                "The e-mail or password is wrong, or the account is "
                "locked for a while after repeated failures."
            )
        )
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 422


def _second_step(user: User, now: datetime) -> Response:
    """Remember the account for a few minutes and ask for its code."""
    session[PENDING] = {"id": user.id, "until": now.timestamp() + PENDING_FOR_SECONDS}
    return redirect(url_for(".verify_login", next=request.args.get("next")), code=303)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Sign out: this session and every copy of its cookie stop working, here and elsewhere."""
    if current_user.is_authenticated:
        accounts.end_sessions(current_user)
        accounts.record_sign_out(db.session, current_user, utcnow())
        db.session.commit()
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("public.index"), code=303)
