"""Forms of the sensor pages: devices, their import, alarm steps and rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, FloatField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from portal.models import DEVICE_KINDS


def kind_choices() -> list[tuple[str, str]]:
    """Return the device kinds with their translated names."""
    from admin.sensors import KIND_LABELS

    return [(k, str(KIND_LABELS[k])) for k in DEVICE_KINDS]


class DeviceForm(FlaskForm):
    """Register one device on a facility or a construction site."""

    code = StringField(
        _l("Device code"),
        validators=[
            DataRequired(),
            Regexp(r"^[A-Za-z0-9_-]{1,40}$", message=_l("1 to 40 letters, digits, - or _.")),
        ],
    )
    kind = SelectField(_l("Kind"), choices=[])
    name = StringField(_l("Device name"), validators=[Optional(), Length(max=200)])
    facility_code = StringField(_l("Facility code"), validators=[Optional(), Length(max=40)])
    project_code = StringField(_l("Project code"), validators=[Optional(), Length(max=40)])
    lat = FloatField(_l("Latitude"), validators=[Optional(), NumberRange(-90, 90)])
    lng = FloatField(_l("Longitude"), validators=[Optional(), NumberRange(-180, 180)])


class DeviceImportForm(FlaskForm):
    """Import devices from a CSV file."""

    file = FileField(_l("File"), validators=[DataRequired(_l("Choose a file."))])


class AlarmForm(FlaskForm):
    """One step on an alarm: acknowledge, verify, open a case or dismiss."""

    action = SelectField(
        choices=[("acknowledge", ""), ("verify", ""), ("case", ""), ("dismiss", "")]
    )
    text = TextAreaField(_l("Reason or description"), validators=[Optional(), Length(max=2000)])


class BulkAlarmForm(FlaskForm):
    """Acknowledge or dismiss several alarms at once."""

    action = SelectField(_l("Action"), choices=[])
    reason = StringField(_l("Reason (to dismiss)"), validators=[Optional(), Length(max=500)])


class RuleForm(FlaskForm):
    """Edit a detection rule's parameters (JSON) and whether it is on."""

    params = TextAreaField(_l("Parameters (JSON)"), validators=[DataRequired()])
    active = BooleanField(_l("Active"))
