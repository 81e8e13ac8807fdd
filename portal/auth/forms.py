"""Forms for signing in, the second step, and changing, resetting and setting a password."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from portal.public.forms import strip
from portal.services.accounts import MIN_PASSWORD


class LoginForm(FlaskForm):
    """E-mail and password."""

    email = EmailField(
        _l("E-mail"),
        filters=[strip],
        validators=[DataRequired(_l("Enter your e-mail.")), Length(max=255)],
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)]
    )


class NewPasswordForm(FlaskForm):
    """Choose a password, twice (through a set-password link)."""

    new = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD,
                max=200,
                message=_l("Use at least %(min)d characters.", min=MIN_PASSWORD),
            ),
        ],
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[EqualTo("new", message=_l("The two new passwords differ."))],
    )


class PasswordForm(NewPasswordForm):
    """Change one's own password."""

    old = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])


class ForgotForm(FlaskForm):
    """The e-mail of an account whose password is forgotten."""

    email = EmailField(
        _l("E-mail"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your e-mail.")),
            Length(max=255),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )


class ConfirmForm(FlaskForm):
    """A button that posts (CSRF only)."""

    confirm = HiddenField(default="1")


class CodeForm(FlaskForm):
    """A code from the authenticator app, or a recovery code."""

    code = StringField(
        _l("Verification code"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the code.")), Length(max=40)],
    )
