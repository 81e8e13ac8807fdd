"""One's own account: the account page, changing the password, signing out everywhere, and
setting a password through a mailed link (forgotten password, new account)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from portal.auth import bp
from portal.auth.forms import ConfirmForm, ForgotForm, NewPasswordForm, PasswordForm
from portal.extensions import db, limiter
from portal.models import utcnow
from portal.services import accounts, password_links, two_factor


def _reset_email_key() -> str:
    """Limit reset requests per e-mail asked for, whatever address they come from."""
    return "reset:" + (request.form.get("email", "") or "").strip().lower()[:255]


@bp.route("/account")
@login_required
def account() -> str:
    """Show one's account, with the ways to change the password and sign out everywhere."""
    return render_template(
        "auth/account.html",
        sign_out_form=ConfirmForm(),
        two_factor_on=two_factor.is_enabled(db.session, current_user),
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    """Change one's own password: other sessions end, this one stays signed in."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db.session, current_user, form.old.data, form.new.data, utcnow()
            )
        except accounts.AccountError as error:
            if error.args[0] == "same":
                form.new.errors.append(_("Choose a password other than the current one."))
            else:
                form.old.errors.append(_("The current password is wrong."))
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # carry the new session version
            flash(_("Your password was changed. Your other sessions were signed out."), "success")
            return redirect(url_for(".account"), code=303)
    return render_template("auth/password.html", form=form), (
        200 if request.method == "GET" else 422
    )


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere() -> Response:
    """End every session of this account, on every device, this one included."""
    if ConfirmForm().validate_on_submit():
        accounts.sign_out_everywhere(db.session, current_user, utcnow())
        db.session.commit()
        logout_user()
        flash(_("You are signed out on every device."), "info")
        return redirect(url_for("public.index"), code=303)
    return redirect(url_for(".account"), code=303)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PASSWORD_RESET"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_PASSWORD_RESET"],
    methods=["POST"],
    key_func=_reset_email_key,
)
def forgot_password() -> str | tuple[str, int]:
    """Mail a set-password link to the account with this e-mail, if there is one."""
    form = ForgotForm()
    if form.validate_on_submit():
        password_links.request_reset(db.session, form.email.data, utcnow())
        db.session.commit()
        # The same page whether or not the address is known: it reveals no account.
        return render_template("auth/forgot_sent.html")
    status = 200 if request.method == "GET" else 422
    return render_template("auth/forgot.html", form=form), status


@bp.route(password_links.PATH + "<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PASSWORD_RESET"], methods=["POST"])
def set_password(token: str) -> Response | tuple[str, int]:
    """Choose a password through a mailed link; the link then stops working."""
    found = password_links.account_of(db.session, token, utcnow())
    if found is None:
        return render_template("auth/set_password.html", expired=True), 410
    user, kind = found
    form = NewPasswordForm()
    if form.validate_on_submit():
        password_links.set_password(db.session, user, kind, form.new.data, utcnow())
        db.session.commit()
        flash(_("Your password is set. Sign in with it now."), "success")
        return redirect(url_for(".login"), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template("auth/set_password.html", form=form, user=user), status
