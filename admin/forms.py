"""Forms of the back office."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    FloatField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from portal.extensions import db
from portal.models import NOTICE_KINDS, PRIORITIES, Department
from portal.public.forms import ReportForm, plain_text, strip


def priority_choices() -> list[tuple[str, str]]:
    """Return the priorities with their translated names."""
    names = {"urgent": _l("Urgent"), "high": _l("High"), "normal": _l("Normal"), "low": _l("Low")}
    return [(p, names[p]) for p in PRIORITIES]


class CaseActionForm(FlaskForm):
    """Every field an action on a case may need; each action reads its own."""

    version = IntegerField(validators=[DataRequired()])
    priority = SelectField(
        _l("Priority"), choices=priority_choices, validate_choice=True, validators=[Optional()]
    )
    department = SelectField(_l("Department"), validators=[Optional()], validate_choice=False)
    body = TextAreaField(
        _l("Text"), filters=[strip], validators=[Optional(), Length(max=4000), plain_text]
    )
    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    target = StringField(
        _l("Merge into case number"), filters=[strip], validators=[Optional(), Length(max=20)]
    )
    # Why a case is rejected, for other systems (Open311 not_councils_responsibility or
    # no_further_action); the reason in words is the body.
    ground = SelectField(
        _l("Ground"),
        choices=[
            ("invalid", _l("Not valid, or nothing to be done")),
            ("not_responsible", _l("Not this office's responsibility")),
        ],
        default="invalid",
        validators=[Optional()],
    )
    photos = MultipleFileField(_l("“After” photos"))
    assignee = SelectField(_l("Assign to"), validators=[Optional()], validate_choice=False)
    hours = IntegerField(
        _l("More time (hours, counted as the deadline counts)"),
        validators=[Optional(), NumberRange(min=1, max=720)],
    )
    # When the official opened the page: a refused stale action shows what changed since.
    seen = StringField(validators=[Optional(), Length(max=40)])


def unchanged_priority_choices() -> list[tuple[str, str]]:
    """Return the priorities after a first, empty choice that changes none."""
    return [("", _l("— Unchanged —")), *priority_choices()]


class BulkForm(FlaskForm):
    """Act on many cases of the queue at once; an empty field changes nothing."""

    numbers = SelectMultipleField(validate_choice=False)
    action = SelectField(
        _l("Action"),
        choices=[
            ("accept", _l("Accept")),
            ("route", _l("Route")),
            ("set_priority", _l("Change priority")),
        ],
    )
    priority = SelectField(
        _l("Priority"), choices=unchanged_priority_choices, validators=[Optional()], default=""
    )
    department = SelectField(
        _l("Department"), validators=[Optional()], validate_choice=False, default=""
    )


class OfflineCaseForm(ReportForm):
    """A complaint received by phone, letter or visit, entered for the resident."""

    channel = SelectField(
        _l("Channel"),
        choices=[("phone", _l("Phone")), ("letter", _l("Letter")), ("visit", _l("Visit"))],
    )


class UserForm(FlaskForm):
    """A new staff or supervisor account."""

    email = EmailField(
        _l("E-mail"),
        filters=[strip],
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=255)],
    )
    name = StringField(
        _l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100), plain_text]
    )
    role = SelectField(
        _l("Role"),
        choices=[
            ("handler", _l("Handler")),
            ("dispatcher", _l("Dispatcher")),
            ("admin", _l("Administrator")),
            ("supervisor", _l("Citizen supervisor")),
        ],
    )
    department = SelectField(_l("Department"), validators=[Optional()], validate_choice=False)


class NewDepartmentForm(FlaskForm):
    """A new department: its code and names (contact, head and parent on its own page)."""

    code = StringField(
        _l("Code"),
        filters=[strip, lambda v: v.upper() if v else v],
        validators=[
            DataRequired(),
            Regexp(r"^[A-Z][A-Z0-9_-]{1,19}$", message=_l("2 to 20 letters, digits, - or _.")),
        ],
    )
    name_zh = StringField(
        _l("Name in Chinese"), filters=[strip], validators=[DataRequired(), Length(max=100)]
    )
    name_en = StringField(
        _l("Name in English"), filters=[strip], validators=[DataRequired(), Length(max=100)]
    )

    def validate_code(self, field: StringField) -> None:
        """Refuse a code another department already has."""
        if db.session.scalar(select(Department.id).where(Department.code == field.data)):
            raise ValidationError(_l("A department with this code already exists."))


class DepartmentForm(FlaskForm):
    """A department's contact, head and parent."""

    email = EmailField(
        _l("E-mail"), filters=[strip], validators=[Optional(), Email(check_deliverability=False)]
    )
    phone = StringField(_l("Phone"), filters=[strip], validators=[Optional(), Length(max=40)])
    head = SelectField(_l("Head"), validators=[Optional()], validate_choice=False)
    parent = SelectField(_l("Escalates to"), validators=[Optional()], validate_choice=False)
    active = BooleanField(_l("Active"))


class RuleForm(FlaskForm):
    """A routing rule: category or group, zone, department."""

    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    group = SelectField(_l("Category group"), validators=[Optional()], validate_choice=False)
    zone = SelectField(_l("Zone"), validators=[Optional()], validate_choice=False)
    department = SelectField(_l("Department"), validators=[DataRequired()], validate_choice=False)


class ReplyTemplateForm(FlaskForm):
    """A ready-made reply for one category, one group, or every case."""

    scope = SelectField(_l("For"), validators=[Optional()], validate_choice=False)
    title = StringField(
        _l("Title"), filters=[strip], validators=[DataRequired(), Length(max=100), plain_text]
    )
    body = TextAreaField(
        _l("Text of the reply"),
        filters=[strip],
        validators=[DataRequired(), Length(max=2000), plain_text],
    )


class UploadForm(FlaskForm):
    """One file to import."""

    file = FileField(_l("File"), validators=[DataRequired(_l("Choose a file."))])


class SimpleForm(FlaskForm):
    """A button that posts (CSRF only)."""

    confirm = HiddenField(default="1")


class ApiKeyMailForm(FlaskForm):
    """Allow ("1") or stop ("0") mail to the reporters of a key's cases."""

    allow = HiddenField(validators=[DataRequired(), AnyOf(["0", "1"])])


class ContractorForm(FlaskForm):
    """A contractor and its unified social credit code."""

    name = StringField(
        _l("Name"), filters=[strip], validators=[DataRequired(), Length(max=200), plain_text]
    )
    credit_code = StringField(
        _l("Unified social credit code"),
        filters=[strip],
        validators=[DataRequired(), Length(max=30)],
    )
    contact_name = StringField(
        _l("Contact"), filters=[strip], validators=[Optional(), Length(max=100), plain_text]
    )
    contact_phone = StringField(
        _l("Phone"), filters=[strip], validators=[Optional(), Length(max=40)]
    )


class ProjectForm(FlaskForm):
    """A project: a point (latitude, longitude) or a line drawn as GeoJSON."""

    code = StringField(
        _l("Code"),
        filters=[strip],
        validators=[
            DataRequired(),
            Length(max=40),
            Regexp(r"^[A-Za-z0-9-]+$", message=_l("Letters, digits, -")),
        ],
    )
    name = StringField(
        _l("Name"), filters=[strip], validators=[DataRequired(), Length(max=200), plain_text]
    )
    lat = StringField(_l("Latitude"), filters=[strip])
    lng = StringField(_l("Longitude"), filters=[strip])
    geometry = TextAreaField(
        _l("Or a line as GeoJSON"), filters=[strip], validators=[Optional(), Length(max=100_000)]
    )
    contractor = SelectField(_l("Contractor"), validators=[Optional()], validate_choice=False)
    supervising_firm = StringField(
        _l("Supervising firm"),
        filters=[strip],
        validators=[Optional(), Length(max=200), plain_text],
    )
    department = SelectField(_l("Department"), validators=[Optional()], validate_choice=False)
    phase = SelectField(
        _l("Phase"),
        choices=[
            ("approval", _l("Approval")),
            ("tender", _l("Tender")),
            ("construction", _l("Construction")),
            ("acceptance", _l("Acceptance")),
            ("operation", _l("Operation")),
        ],
    )
    planned_start = DateField(_l("Planned start"), validators=[Optional()])
    planned_end = DateField(_l("Planned end"), validators=[Optional()])
    actual_start = DateField(_l("Actual start"), validators=[Optional()])
    actual_end = DateField(_l("Actual end"), validators=[Optional()])
    description = TextAreaField(
        _l("Public description"),
        filters=[strip],
        validators=[Optional(), Length(max=4000), plain_text],
    )
    active_site = BooleanField(_l("Active construction site (spot-checked)"))
    acceptance_result = SelectField(
        _l("Acceptance result"),
        validate_choice=False,
        choices=[("", "—"), ("passed", _l("Passed")), ("failed", _l("Failed"))],
    )
    acceptance_date = DateField(_l("Acceptance date"), validators=[Optional()])


class EvidenceReviewForm(FlaskForm):
    """Confirm or reject a flagged report or check on site, always with a reason."""

    decision = HiddenField()
    reason = TextAreaField(
        _l("Reason for your decision"),
        filters=[strip],
        validators=[DataRequired(_l("Give a reason.")), Length(max=1000), plain_text],
    )


class DecisionForm(FlaskForm):
    """Approve or decline an application, with a reason when declining."""

    reason = TextAreaField(
        _l("Reason (when declining)"),
        filters=[strip],
        validators=[Optional(), Length(max=1000), plain_text],
    )


class SpotCheckForm(FlaskForm):
    """Run the month's random spot-check assignment."""

    month = StringField(
        _l("Month (YYYY-MM)"),
        filters=[strip],
        validators=[DataRequired(), Regexp(r"^\d{4}-\d{2}$")],
    )
    per_supervisor = IntegerField(
        _l("Sites per supervisor"), default=3, validators=[DataRequired()]
    )
    seed = IntegerField(_l("Seed (for a reproducible draw)"), validators=[Optional()])
    force = BooleanField(_l("Run again even if the month was assigned"))


class ConsultationForm(FlaskForm):
    """Open a planned project for public comments."""

    project = SelectField(
        _l("Project"), validators=[DataRequired(_l("Choose a project."))], validate_choice=True
    )
    title = StringField(
        _l("Title"),
        filters=[strip],
        validators=[DataRequired(_l("Give a title.")), Length(max=200), plain_text],
    )
    question = TextAreaField(
        _l("What the office asks the public"),
        filters=[strip],
        validators=[
            DataRequired(_l("Say what the public is asked.")),
            Length(max=5000),
            plain_text,
        ],
    )
    closes_on = DateField(
        _l("Comments accepted until (inclusive)"),
        validators=[DataRequired(_l("Enter the closing date."))],
    )


class ResponseForm(FlaskForm):
    """The office's response summary to a closed consultation."""

    response = TextAreaField(
        _l("Response summary"),
        filters=[strip],
        validators=[
            DataRequired(_l("Write the response summary.")),
            Length(max=5000),
            plain_text,
        ],
    )


def notice_kind_choices() -> list[tuple[str, str]]:
    """Return the kinds of notice with their translated names."""
    names = {
        "progress": _l("Progress"),
        "completion": _l("Completion"),
        "traffic": _l("Traffic impact"),
        "consultation_result": _l("Consultation result"),
    }
    return [(kind, names[kind]) for kind in NOTICE_KINDS]


class NoticeForm(FlaskForm):
    """A notice: its text in Markdown, kind, and what it is about."""

    title = StringField(
        _l("Title"), filters=[strip], validators=[DataRequired(), Length(max=200), plain_text]
    )
    kind = SelectField(_l("Kind"), choices=notice_kind_choices)
    body = TextAreaField(
        _l("Text (Markdown)"), filters=[strip], validators=[DataRequired(), Length(max=20_000)]
    )
    project = SelectField(_l("Project"), validators=[Optional()], validate_choice=False)
    zone = SelectField(_l("Zone"), validators=[Optional()], validate_choice=False)
    cases = TextAreaField(
        _l("Related case numbers"), filters=[strip], validators=[Optional(), Length(max=2000)]
    )
    cover = FileField(_l("Cover photo"))
    remove_cover = BooleanField(_l("Remove the cover photo"))


class PublishForm(FlaskForm):
    """Publish now, or at a moment given in the office's time zone."""

    when = SelectField(
        _l("When"), choices=[("now", _l("Now")), ("at", _l("At a set date and time"))]
    )
    publish_at = DateTimeLocalField(
        _l("Date and time (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )


class WithdrawForm(FlaskForm):
    """Withdraw a published notice; the public sees the reason."""

    reason = TextAreaField(
        _l("Reason for withdrawal (shown to the public)"),
        filters=[strip],
        validators=[
            DataRequired(_l("Give the reason for the withdrawal.")),
            Length(max=1000),
            plain_text,
        ],
    )


class BlockForm(FlaskForm):
    """A sender to hold: an address or network, an e-mail or a phone, with the reason."""

    kind = SelectField(
        _l("Kind"),
        choices=[
            ("ip", _l("IP address or network")),
            ("email", _l("E-mail")),
            ("phone", _l("Phone")),
        ],
    )
    value = StringField(
        _l("Address, e-mail or phone"),
        filters=[strip],
        validators=[DataRequired(), Length(max=255), plain_text],
    )
    reason = TextAreaField(
        _l("Reason (staff only)"),
        filters=[strip],
        validators=[DataRequired(), Length(max=1000), plain_text],
    )
    expires_on = DateField(_l("Until (optional)"), validators=[Optional()])
    # Asked for only when the network is wider than the service allows without it.
    confirm_wide = BooleanField(_l("I confirm: block this whole network"))
    wide_reason = TextAreaField(
        _l("Why a network this wide (recorded in the audit log)"),
        filters=[strip],
        validators=[Optional(), Length(max=1000), plain_text],
    )


class ReviewForm(FlaskForm):
    """Release or reject something held for review; rejecting needs a reason."""

    reason = TextAreaField(
        _l("Reason (staff only, when rejecting)"),
        filters=[strip],
        validators=[Optional(), Length(max=1000), plain_text],
    )


class TwoFactorResetForm(FlaskForm):
    """Remove an account's second factor (a lost phone), with the reason for the audit log."""

    reason = TextAreaField(
        _l("Reason"),
        filters=[strip],
        validators=[
            DataRequired(_l("Give the reason for the reset.")),
            Length(max=1000),
            plain_text,
        ],
    )


class FacilityImportForm(FlaskForm):
    """A survey of facilities to import (GeoJSON or CSV), and how."""

    file = FileField(_l("File"), validators=[DataRequired(_l("Choose a file."))])
    crs = SelectField(
        _l("Coordinates"),
        choices=[
            ("wgs84", _l("WGS-84 (GPS, 天地图)")),
            ("gcj02", _l("GCJ-02 (Gaode/AMap, Tencent)")),
        ],
        default="wgs84",
    )
    dry_run = BooleanField(_l("Dry run: show what would change, change nothing"), default=True)
    skip_bad = BooleanField(_l("Import the good rows even if some are refused"))


class ModerationForm(FlaskForm):
    """Hide content of a case from the public: the pieces of text, or a photo's region (in
    percent of the photo), and always the reason."""

    target = StringField(filters=[strip], validators=[Optional(), Length(max=20)])
    pieces = TextAreaField(
        _l("Text to hide (one piece a line, exactly as written)"),
        filters=[strip],
        validators=[Optional(), Length(max=4000)],
    )
    left = FloatField(_l("Left edge, in percent"), validators=[Optional(), NumberRange(0, 100)])
    top = FloatField(_l("Top edge, in percent"), validators=[Optional(), NumberRange(0, 100)])
    width = FloatField(_l("Width, in percent"), validators=[Optional(), NumberRange(0, 100)])
    height = FloatField(_l("Height, in percent"), validators=[Optional(), NumberRange(0, 100)])
    reason = TextAreaField(
        _l("Reason (staff only)"),
        filters=[strip],
        validators=[DataRequired(), Length(max=500), plain_text],
    )
