"""Forms of the public site."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, ValidationError

from portal.services import intake

PHONE = intake.PHONE


def strip(value: str | None) -> str | None:
    """Trim surrounding white space from a text field."""
    return value.strip() if isinstance(value, str) else value


def plain_text(form: FlaskForm, field: StringField) -> None:
    """Refuse markup and control characters in free text (the rule of every report)."""
    problem = intake.text_problem(field.data)
    if problem is not None:
        raise ValidationError(problem)


class ReportForm(FlaskForm):
    """A resident's report of a problem."""

    category = SelectField(
        _l("Category"),
        validators=[DataRequired(_l("Choose a category."))],
        validate_choice=True,
    )
    lat = StringField(_l("Latitude"), filters=[strip])
    lng = StringField(_l("Longitude"), filters=[strip])
    address = StringField(
        _l("Address or landmark"),
        filters=[strip],
        validators=[Length(max=255, message=_l("At most %(max)d characters.")), plain_text],
    )
    description = TextAreaField(
        _l("Description"),
        filters=[strip],
        validators=[
            DataRequired(_l("Describe the problem.")),
            Length(
                min=intake.DESCRIPTION_MIN,
                max=intake.DESCRIPTION_MAX,
                message=_l("Write between %(min)d and %(max)d characters."),
            ),
            plain_text,
        ],
    )
    photos = MultipleFileField(_l("Photos"))
    name = StringField(
        _l("Your name"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=100, message=_l("At most %(max)d characters.")),
            plain_text,
        ],
    )
    phone = StringField(
        _l("Phone"),
        filters=[strip],
        validators=[Optional(), Regexp(PHONE, message=_l("Enter a valid phone number."))],
    )
    email = StringField(
        _l("E-mail"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=255, message=_l("At most %(max)d characters.")),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )
    hide_name = BooleanField(_l("Hide my name from the public"), default=True)
    # Names this form's pending photos (kept across errors); random, made by the server.
    upload_token = HiddenField()
    # The nearby cases this resident was offered and went past, signed by the server.
    nearby_declined = HiddenField()
    # The facility the report is about (its code), picked among the nearby ones listed.
    facility = StringField(
        _l("Which one is it?"),
        filters=[strip],
        validators=[Optional(), Length(max=40, message=_l("At most %(max)d characters."))],
    )
    # "1" once the nearby facilities were listed: they are offered once, never forced.
    facilities_offered = HiddenField()
    # Set once the resident was told the description seems to hold someone's phone or ID
    # number: a second send goes through (flagged for staff).
    personal_data_seen = HiddenField()
    # Answers to the chosen category's questions that were refused, by field name.
    answer_errors: dict = {}

    def position(self) -> tuple[float, float] | None:
        """Return the typed or clicked position, if both coordinates were given."""
        try:
            lat, lng = float(self.lat.data), float(self.lng.data)
        except (TypeError, ValueError):
            return None
        return lat, lng

    def validate_lat(self, field: StringField) -> None:
        """Check that the coordinates, when given, are a real place."""
        from portal.services.geo import is_valid_position

        if not field.data and not self.lng.data:
            return
        position = self.position()
        if position is None or not is_valid_position(*position):
            raise ValidationError(
                _l("Enter a latitude between -90 and 90 and a longitude between -180 and 180.")
            )


class FollowForm(FlaskForm):
    """A "me too" on an existing case."""

    email = StringField(
        _l("E-mail for updates (optional)"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=255),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )


class RatingForm(FlaskForm):
    """The resident's rating of the answer."""

    rating = RadioField(
        _l("How satisfied are you with the answer?"),
        choices=[
            ("satisfied", _l("Satisfied")),
            ("basically_satisfied", _l("Basically satisfied")),
            ("dissatisfied", _l("Not satisfied")),
        ],
        validators=[DataRequired(_l("Choose a rating."))],
    )
    comment = TextAreaField(
        _l("Comment"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=1000, message=_l("At most %(max)d characters.")),
            plain_text,
        ],
    )


class ReopenForm(FlaskForm):
    """A resident says the problem was not really fixed."""

    reason = TextAreaField(
        _l("What is still wrong?"),
        filters=[strip],
        validators=[
            DataRequired(_l("Tell us what is still wrong.")),
            Length(max=1000, message=_l("At most %(max)d characters.")),
            plain_text,
        ],
    )


class CaseFilterForm(FlaskForm):
    """Filters of the public case list (a GET form, no CSRF needed)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), filters=[strip], validators=[Optional(), Length(max=100)])
    state = SelectField(_l("State"), validators=[Optional()], validate_choice=False)
    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    zone = SelectField(_l("Zone"), validators=[Optional()], validate_choice=False)
    since = StringField(_l("From"), validators=[Optional()])
    until = StringField(_l("To"), validators=[Optional()])


class InfoForm(FlaskForm):
    """The resident answers the office's question."""

    body = TextAreaField(
        _l("Your answer"),
        filters=[strip],
        validators=[
            DataRequired(_l("Write your answer.")),
            Length(max=2000, message=_l("At most %(max)d characters.")),
            plain_text,
        ],
    )


class ContactFields(FlaskForm):
    """An optional, private way to reach the resident (seen only by staff)."""

    email = StringField(
        _l("E-mail"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=255, message=_l("At most %(max)d characters.")),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )
    phone = StringField(
        _l("Phone"),
        filters=[strip],
        validators=[Optional(), Regexp(PHONE, message=_l("Enter a valid phone number."))],
    )


class CommentForm(ContactFields):
    """A resident's comment on a consultation."""

    body = TextAreaField(
        _l("Your comment"),
        filters=[strip],
        validators=[
            DataRequired(_l("Write your comment.")),
            Length(min=5, max=2000, message=_l("Write between %(min)d and %(max)d characters.")),
            plain_text,
        ],
    )
    display_name = StringField(
        _l("Name to show (optional)"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=100, message=_l("At most %(max)d characters.")),
            plain_text,
        ],
    )


class SuggestionForm(ContactFields):
    """A resident's suggestion to the office."""

    title = StringField(
        _l("Title"),
        filters=[strip],
        validators=[
            DataRequired(_l("Give your suggestion a title.")),
            Length(min=2, max=200, message=_l("Write between %(min)d and %(max)d characters.")),
            plain_text,
        ],
    )
    body = TextAreaField(
        _l("Your suggestion"),
        filters=[strip],
        validators=[
            DataRequired(_l("Describe your suggestion.")),
            Length(min=5, max=2000, message=_l("Write between %(min)d and %(max)d characters.")),
            plain_text,
        ],
    )
    project = SelectField(
        _l("About a project (optional)"), validators=[Optional()], validate_choice=True
    )


class NoticeFilterForm(FlaskForm):
    """Filters of the public list of notices (a GET form, no CSRF needed)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), filters=[strip], validators=[Optional(), Length(max=100)])
    project = SelectField(_l("Project"), validators=[Optional()], validate_choice=False)
    kind = SelectField(_l("Kind"), validators=[Optional()], validate_choice=False)
    zone = SelectField(_l("Zone"), validators=[Optional()], validate_choice=False)
    since = StringField(_l("Published from"), validators=[Optional()])
    until = StringField(_l("Published until"), validators=[Optional()])


class PrivacyForm(FlaskForm):
    """The e-mail a resident gave with their reports, to erase it everywhere."""

    email = StringField(
        _l("Your e-mail address"),
        filters=[strip],
        validators=[
            DataRequired(message=_l("Enter your e-mail address.")),
            Length(max=255),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )


class EraseForm(FlaskForm):
    """A button that confirms an erasure (CSRF only)."""


class TrackLookupForm(FlaskForm):
    """A case number and its query code (查询码), to open the private page."""

    number = StringField(
        _l("Case number"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the case number.")), Length(max=20)],
    )
    code = StringField(
        _l("Query code"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the 6-digit query code.")), Length(max=20)],
    )


class LinkRequestForm(FlaskForm):
    """A case number and the e-mail given with it, to have the private link mailed again."""

    case_number = StringField(
        _l("Case number"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the case number.")), Length(max=20)],
    )
    email = StringField(
        _l("The e-mail you gave with the report"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your e-mail address.")),
            Length(max=255),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )


class SendLinkForm(FlaskForm):
    """An address to mail the private link of the case just reported to."""

    email = StringField(
        _l("E-mail"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your e-mail address.")),
            Length(max=255),
            Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
        ],
    )


class FollowEmailForm(SendLinkForm):
    """The e-mail of someone who said "me too" without one, for the case's updates."""


class UnsubscribeForm(FlaskForm):
    """A button that confirms stopping a follower's mail (CSRF only)."""
