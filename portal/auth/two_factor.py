"""The second sign-in step, enrollment in two-factor sign-in, and the guard that requires it."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from werkzeug.wrappers import Response

from portal.auth import bp
from portal.auth.forms import CodeForm
from portal.auth.views import PENDING, _safe_next
from portal.extensions import db, limiter
from portal.models import User, utcnow
from portal.services import two_factor

# What an admin or dispatcher without a second factor may still reach.
OPEN_WITHOUT_SECOND_FACTOR = {
    "auth.two_factor_page",
    "auth.logout",
    "public.switch_language",
    "static",
}


def _pending_account() -> User | None:
    """Return the account waiting for its code, if its few minutes have not run out."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    return db.session.get(User, pending.get("id"))


def _pending_key() -> str:
    """Limit code attempts per account, whatever address they come from."""
    pending = session.get(PENDING)
    return f"login-code:{pending.get('id') if isinstance(pending, dict) else ''}"


def _wrong_code(form: CodeForm) -> None:
    form.code.errors.append(_("The code is wrong, too old or already used."))


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"], key_func=_pending_key
)
def verify_login() -> Response | tuple[str, int]:
    """Finish signing in with a code from the authenticator app or a recovery code."""
    user = _pending_account()
    if user is None:
        session.pop(PENDING, None)
        flash(_("Please sign in again: the code was not entered within five minutes."), "error")
        return redirect(url_for(".login", next=request.args.get("next")), code=303)
    form = CodeForm()
    if form.validate_on_submit():
        accepted = two_factor.verify_sign_in(db.session, user, form.code.data, utcnow())
        db.session.commit()
        if accepted:
            session.pop(PENDING, None)
            login_user(user)
            return redirect(_safe_next(request.args.get("next")), code=303)
        form.code.errors.append(
            _(
                "The code is wrong, too old or already used, or the account is "
                "locked for a while after repeated failures."
            )
        )
    status = 200 if request.method == "GET" else 422
    return render_template("auth/verify.html", form=form), status


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_page() -> Response | tuple[str, int]:
    """Enroll in two-factor sign-in, or see its state and manage it."""
    if two_factor.is_enabled(db.session, current_user):
        return _manage_page(CodeForm(), CodeForm(prefix="off"))
    row = two_factor.start_enrollment(db.session, current_user, utcnow())
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrollment(
                db.session, current_user, form.code.data, utcnow()
            )
        except two_factor.TwoFactorError:
            _wrong_code(form)
        else:
            db.session.commit()
            flash(_("Two-factor sign-in is on."), "success")
            return _show_recovery_codes(codes)
    db.session.commit()  # keep the new secret: the app scanned it
    uri = two_factor.provisioning_uri(row, current_user)
    return render_template(
        "auth/two_factor_enroll.html",
        form=form,
        secret=row.secret,
        uri=uri,
        qr=two_factor.qr_svg(uri),
        required=two_factor.is_required(current_user),
    ), (200 if request.method == "GET" else 422)


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])
def regenerate_recovery_codes() -> Response | tuple[str, int]:
    """Replace the recovery codes, after a current code."""
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.regenerate_recovery_codes(
                db.session, current_user, form.code.data, utcnow()
            )
        except two_factor.TwoFactorError:
            db.session.rollback()
            _wrong_code(form)
        else:
            db.session.commit()
            flash(_("New recovery codes were made; the old ones no longer work."), "success")
            return _show_recovery_codes(codes)
    return _manage_page(form, CodeForm(prefix="off"), 422)


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])
def disable_two_factor() -> Response | tuple[str, int]:
    """Turn two-factor sign-in off, where the role allows it, after a current code."""
    form = CodeForm(prefix="off")
    if form.validate_on_submit():
        try:
            two_factor.disable(db.session, current_user, form.code.data, utcnow())
        except two_factor.TwoFactorError as error:
            db.session.rollback()
            if error.args[0] == "required":
                form.code.errors.append(_("Your role must sign in with two-factor sign-in."))
            else:
                _wrong_code(form)
        else:
            db.session.commit()
            flash(_("Two-factor sign-in is off."), "success")
            return redirect(url_for(".two_factor_page"), code=303)
    return _manage_page(CodeForm(), form, 422)


def _manage_page(
    regenerate: CodeForm, disable: CodeForm, status: int | None = None
) -> tuple[str, int]:
    return render_template(
        "auth/two_factor.html",
        regenerate=regenerate,
        disable=disable,
        required=two_factor.is_required(current_user),
        left=two_factor.recovery_codes_left(db.session, current_user),
    ), status or (200 if request.method == "GET" else 422)


def _show_recovery_codes(codes: list[str]) -> tuple[str, int]:
    """Show the recovery codes on this answer only: they are never shown again."""
    return render_template("auth/recovery_codes.html", codes=codes, next=_safe_next(None)), 200


@bp.before_app_request
def require_two_factor() -> Response | None:
    """Send a signed-in admin or dispatcher without a second factor to enrollment."""
    if request.endpoint in OPEN_WITHOUT_SECOND_FACTOR or not current_user.is_authenticated:
        return None
    if current_user.must_change_password:
        return None  # the password comes first: its own guard sends the user to change it
    if two_factor.is_required(current_user) and not two_factor.is_enabled(db.session, current_user):
        message = _("Your role must sign in with a second factor. Please set it up first.")
        if ("info", message) not in session.get("_flashes", []):  # once, however many pages
            flash(message, "info")
        return redirect(url_for("auth.two_factor_page"), code=303)
    return None
