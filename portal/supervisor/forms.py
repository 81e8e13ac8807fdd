"""Forms of the supervisors' area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from portal.models.supervision import OnSiteEvidence
from portal.public.forms import PHONE, plain_text, strip
from portal.services import evidence


class ApplicationForm(FlaskForm):
    """A resident applies to become a citizen supervisor."""

    name = StringField(
        _l("Your name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter your name.")), Length(max=100), plain_text],
    )
    phone = StringField(
        _l("Phone"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your phone number.")),
            Regexp(PHONE, message=_l("Enter a valid phone number.")),
        ],
    )
    email = EmailField(
        _l("E-mail"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your e-mail.")),
            Length(max=255),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )
    zone = SelectField(_l("The street you live in"), validators=[Optional()], validate_choice=True)
    motivation = TextAreaField(
        _l("Why do you want to help?"), filters=[strip], validators=[Length(max=1000), plain_text]
    )
    agree = BooleanField(
        _l("I agree to the supervisors' code of conduct"),
        validators=[DataRequired(_l("Please agree to the code of conduct."))],
    )


class PositionForm(FlaskForm):
    """Where the supervisor is: typed, or measured by the phone (the page's script fills the
    accuracy and the fix time from the Geolocation API; the server decides what they prove)."""

    lat = StringField(_l("Latitude"), filters=[strip])
    lng = StringField(_l("Longitude"), filters=[strip])
    accuracy = HiddenField(filters=[strip], validators=[Length(max=32)])
    fix_time = HiddenField(filters=[strip], validators=[Length(max=32)])
    position_source = HiddenField(default="typed", validators=[Length(max=10)])

    def position(self) -> evidence.Position | None:
        """Return the position sent, None if none; raise InvalidPosition if it is no place."""
        return evidence.read_position(
            self.lat.data,
            self.lng.data,
            self.accuracy.data,
            self.fix_time.data,
            self.position_source.data,
        )

    def show(self, record: OnSiteEvidence) -> None:
        """Fill the position fields from a kept record."""
        for name, value in evidence.shown_position(record).items():
            self[name].data = value


class InspectionForm(PositionForm):
    """The fields of a report besides the checklist (read from the request by item)."""

    client_key = HiddenField(validators=[DataRequired(), Length(max=64)])


class VerifyForm(PositionForm):
    """The supervisor's verdict on a fix, checked on site, with a photo and the position."""

    version = HiddenField(validators=[DataRequired()])
    body = TextAreaField(
        _l("What you found on site"),
        filters=[strip],
        validators=[DataRequired(_l("Describe what you found.")), Length(max=1000), plain_text],
    )


class FollowUpForm(PositionForm):
    """The supervisor's answer to a follow-up check (回头看): still fixed, or rebounded."""

    verdict = RadioField(
        _l("What did you find?"),
        choices=[
            ("still_fixed", _l("Still fixed")),
            ("rebounded", _l("Rebounded: the problem is back")),
        ],
        validators=[DataRequired(_l("Say whether it is still fixed."))],
    )
    body = TextAreaField(
        _l("What you found on site"),
        filters=[strip],
        validators=[Length(max=1000), plain_text],
    )
    category = SelectField(_l("The problem found (for a work)"), validators=[Optional()])
