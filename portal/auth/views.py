"""Sign in (throttled per address and per account), sign out, change password."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from portal.auth import bp
from portal.auth.forms import LoginForm, PasswordForm
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
    return url_for("admin.index") if current_user.is_staff else url_for("public.index")


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
    """Sign out."""
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("public.index"), code=303)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    """Change one's own password."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db.session, current_user, form.old.data, form.new.data, utcnow()
            )
        except accounts.AccountError:
            form.old.errors.append(_("The current password is wrong."))
        else:
            db.session.commit()
            flash(_("Your password was changed."), "success")
            return redirect(_safe_next(None), code=303)
    return render_template("auth/password.html", form=form), (
        200 if request.method == "GET" else 422
    )
