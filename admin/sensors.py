"""Sensors in the back office: devices with live status, each device's chart, the alarm
queue and each alarm's steps, detection rules, sources' precision, map layers."""

from __future__ import annotations

import bisect
from datetime import timedelta

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import admin_required, bp
from admin.sensor_forms import (
    AlarmForm,
    BulkAlarmForm,
    DeviceForm,
    DeviceImportForm,
    RuleForm,
    kind_choices,
)
from portal.extensions import db
from portal.models import (
    DEVICE_KINDS,
    DEVICE_STATUSES,
    Alarm,
    DetectionRule,
    Device,
    Facility,
    Project,
    utcnow,
)
from portal.services import alarms, detections, devices, readings
from portal.web import row_id

KIND_LABELS = {
    "water_depth": _l("Water depth"),
    "cover_tilt": _l("Manhole cover"),
    "dust_pm10": _l("Dust (PM10)"),
    "noise": _l("Noise"),
}
STATUS_LABELS = {"online": _l("Online"), "offline": _l("Offline"), "maintenance": _l("Maintenance")}
ALARM_LABELS = {
    "raised": _l("Raised"),
    "acknowledged": _l("Acknowledged"),
    "verified": _l("Verified"),
    "case": _l("Case opened"),
    "dismissed": _l("False alarm"),
    "cleared": _l("Cleared"),
}
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "1y": timedelta(days=365),
}
RANGE_LABELS = {
    "1h": _l("1 hour"),
    "24h": _l("24 hours"),
    "7d": _l("7 days"),
    "30d": _l("30 days"),
    "1y": _l("1 year"),
}
METRIC_LABELS = {
    "depth": _l("Water depth"),
    "tilt": _l("Cover tilt"),
    "open": _l("Cover open"),
    "pm10": _l("Dust (PM10)"),
    "noise": _l("Noise"),
}
# Why a reading was not stored (readings.REASONS), as the device page counts them.
BAD_READING_LABELS = {
    "bad_json": _l("unreadable message"),
    "unknown_device": _l("unknown device"),
    "wrong_device": _l("another device's key"),
    "unknown_metric": _l("unknown measurement"),
    "out_of_range": _l("value out of range"),
    "bad_time": _l("unreadable time"),
    "future": _l("time in the future"),
    "too_old": _l("time over a year ago"),
    "duplicate": _l("sent twice"),
}
DEVICE_ERRORS = {
    "code": _l("1 to 40 letters, digits, - or _."),
    "kind": _l("Choose a kind."),
    "code_taken": _l("A device with this code exists."),
    "place": _l("Give the code of a facility or of a project."),
    "position": _l("Give a valid position."),
    "header": _l("The first line must name the columns, with at least code and kind."),
    "unknown_facility": _l("No facility has this code."),
    "unknown_project": _l("No project has this code."),
    "unknown_department": _l("No department has this code."),
}


def _labels() -> dict:
    return {
        "kinds": KIND_LABELS,
        "statuses": STATUS_LABELS,
        "alarm_states": ALARM_LABELS,
        "escalation": escalation,
    }


def rule_terms(rule: DetectionRule) -> list[str]:
    """Return a rule's parameters as sentences in the reader's language (the device page),
    instead of its JSON (which admins edit on the rule's own page)."""
    p = alarms.resolved(rule.params)
    unit = readings.UNITS.get(rule.metric, "")
    terms = []
    if rule.rule_kind == "threshold":
        if rule.metric == "open":
            terms.append(_("the sensor reads open (1)"))
        elif p.get("mean_seconds"):
            terms.append(
                _("mean over %(min)d min at or above %(limit)s%(unit)s",
                  min=float(p["mean_seconds"]) // 60, limit=_num(p["limit"]), unit=unit)
            )  # fmt: skip
        else:
            terms.append(_("at or above %(limit)s%(unit)s", limit=_num(p["limit"]), unit=unit))
        if p.get("night_limit") is not None:
            terms.append(
                _("at night (22:00–06:00) %(limit)s%(unit)s", limit=_num(p["night_limit"]),
                  unit=unit)
            )  # fmt: skip
        if p.get("min_seconds"):
            terms.append(_("for %(min)d min", min=float(p["min_seconds"]) // 60))
        if p.get("night_limit") is not None and p.get("night_peak") is not None:
            terms.append(
                _("at night a single reading above %(peak)s%(unit)s at once",
                  peak=_num(float(p["night_limit"]) + float(p["night_peak"])), unit=unit)
            )  # fmt: skip
        if p.get("hysteresis") and rule.metric != "open":
            below = _num(float(p["limit"]) - float(p["hysteresis"]))
            if p.get("night_limit") is not None:
                night = _num(float(p["night_limit"]) - float(p["hysteresis"]))
                terms.append(
                    _("back to normal below %(below)s%(unit)s (at night %(night)s%(unit)s)",
                      below=below, night=night, unit=unit)
                )  # fmt: skip
            else:
                terms.append(_("back to normal below %(below)s%(unit)s", below=below, unit=unit))
    elif rule.rule_kind == "rate":
        terms.append(
            _("rising %(rate)s%(unit)s a minute or faster, over %(min)d min",
              rate=_num(p.get("max_per_minute", 0)), unit=unit,
              min=float(p.get("window_seconds", 300)) // 60)
        )  # fmt: skip
    elif rule.rule_kind == "baseline":
        terms.append(
            _("%(z)s robust standard deviations from the same hour of past weeks",
              z=_num(p.get("max_z", 0)))
        )  # fmt: skip
    elif rule.rule_kind == "silence":
        terms.append(_("no reading for %(min)s min", min=_num(p.get("minutes", 0))))
    if p.get("clear_seconds") and rule.rule_kind != "silence":
        terms.append(_("clears after %(min)d min normal", min=float(p["clear_seconds"]) // 60))
    return terms


def _num(value: object) -> str:
    """Return a number as a person writes it: 15, not 15.0."""
    number = float(value)  # type: ignore[arg-type]
    return f"{number:g}"


def _duration(minutes: int) -> str:
    hours, minutes = divmod(minutes, 60)
    parts = [ngettext("%(num)d hour", "%(num)d hours", hours)] if hours else []
    if minutes or not hours:
        parts.append(ngettext("%(num)d minute", "%(num)d minutes", minutes))
    return " ".join(parts)


def escalation(level: int) -> dict[str, str]:
    """Say an alarm's escalation level in words: how many times it rose and so how long
    nobody acknowledged it (one level per ALARM_ESCALATE_MINUTES), and the rule as a title."""
    period = int(current_app.config.get("ALARM_ESCALATE_MINUTES", 30))
    title = _(
        "An alarm nobody acknowledges is escalated every %(minutes)d minutes.", minutes=period
    )
    if not level:
        return {"text": _("Not escalated"), "title": title}
    times = ngettext("Escalated %(num)d time", "Escalated %(num)d times", level)
    waited = _("%(duration)s without acknowledgement", duration=_duration(level * period))
    return {"text": f"{times} · {waited}", "title": title}


@bp.route("/devices")
def device_list() -> str:
    """List the devices with their live status and last value."""
    kind = request.args.get("kind", "")
    status = request.args.get("status", "")
    kind = kind if kind in DEVICE_KINDS else ""
    status = status if status in DEVICE_STATUSES else ""
    return render_template(
        "admin/devices.html",
        devices=devices.listed(db.session, kind, status),
        kind=kind,
        status=status,
        units=readings.UNITS,
        main=readings.MAIN_METRIC,
        now=utcnow(),
        **_labels(),
    )


@bp.route("/devices/<int:device_id>")
def device_page(device_id: int) -> str:
    """Show a device, its chart from an hour to a year, its bad readings and alarms."""
    device = db.session.get(Device, device_id) or abort(404)
    span = request.args.get("range", "24h")
    span = span if span in RANGES else "24h"
    recent = db.session.scalars(
        select(Alarm).where(Alarm.device_id == device.id).order_by(Alarm.opened_at.desc()).limit(20)
    ).all()
    rules = alarms.rules_by_device(db.session, {device.id: device.kind})[device.id]
    return render_template(
        "admin/device.html",
        device=device,
        span=span,
        ranges=list(RANGES),
        alarms=recent,
        rules=rules,
        rule_terms=rule_terms,
        metrics=list(readings.METRICS[device.kind]),
        units=readings.UNITS,
        metric_labels=METRIC_LABELS,
        range_labels=RANGE_LABELS,
        bad_reading_labels=BAD_READING_LABELS,
        **_labels(),
    )


@bp.route("/devices/<int:device_id>/series.json")
def device_series(device_id: int) -> Response:
    """Return a metric of a device over a range, raw or hourly, with its alarms."""
    device = db.session.get(Device, device_id) or abort(404)
    metric = request.args.get("metric", readings.MAIN_METRIC[device.kind])
    if metric not in readings.METRICS[device.kind]:
        metric = readings.MAIN_METRIC[device.kind]
    now = utcnow()
    end = now
    around = request.args.get("alarm", type=row_id)  # past an id column: no alarm, 404
    if around is None and "alarm" in request.args:
        abort(404)
    if around:
        alarm = db.session.get(Alarm, around)
        if alarm is None or alarm.device_id != device.id:
            abort(404)
        start = alarm.opened_at - timedelta(hours=3)
        end = min(now, (alarm.closed_at or alarm.last_breach_at) + timedelta(hours=3))
    else:
        start = now - RANGES.get(request.args.get("range", "24h"), RANGES["24h"])
    kind, points = readings.series(
        db.session, device, metric, start, end, current_app.config["READINGS_RAW_DAYS"], now
    )
    marks = db.session.execute(
        select(
            Alarm.opened_at,
            Alarm.peak_value,
            Alarm.summary,
            DetectionRule.rule_kind,
            DetectionRule.metric,
        )
        .outerjoin(DetectionRule, DetectionRule.id == Alarm.rule_id)
        .where(Alarm.device_id == device.id, Alarm.opened_at >= start, Alarm.opened_at <= end)
    ).all()
    times = [p[0] for p in points]
    return jsonify(
        kind=kind,
        metric=metric,
        unit=readings.UNITS.get(metric, ""),
        points=[[int(t.timestamp() * 1000), v, lo, hi] for t, v, lo, hi in points],
        alarms=[
            [
                int(t.timestamp() * 1000),
                _mark_height(points, times, t, p, k == "threshold" and m == metric),
                s,
            ]
            for t, p, s, k, m in marks
        ],
        labels={
            "value": str(_("Value")),
            "alarm": str(_("Alarm")),
            "range": str(_("Hourly range")),
        },
    )


def _mark_height(
    points: list, times: list, moment, peak: float | None, on_axis: bool
) -> float | None:
    """Return where an alarm sits on a chart of the metric: a threshold's peak is a value of
    the metric; a rate (per minute), a baseline's z-score, another metric's alarm or a
    silence sits on the line, at the reading at or before it opened (or the first after)."""
    if on_axis and peak is not None:
        return peak
    if not points:
        return None
    at = bisect.bisect_right(times, moment)  # times: the points' own, taken once a chart
    return points[max(at - 1, 0)][1]


@bp.route("/devices/new", methods=["GET", "POST"])
@admin_required
def device_new() -> str | Response:
    """Register a device; its key is shown once."""
    form = DeviceForm()
    form.kind.choices = kind_choices()
    key = None
    if form.validate_on_submit():
        facility_id = _id_of(Facility, form.facility_code.data)
        project_id = _id_of(Project, form.project_code.data)
        data = devices.DeviceData(
            code=form.code.data,
            kind=form.kind.data,
            name=form.name.data or "",
            lat=form.lat.data,
            lng=form.lng.data,
            facility_id=facility_id,
            project_id=project_id,
        )
        try:
            device, key = devices.register(db.session, current_user, data, utcnow())
        except devices.DeviceError as error:
            db.session.rollback()
            flash(str(DEVICE_ERRORS.get(str(error), error)), "error")
        else:
            db.session.commit()
            flash(_("Device %(code)s registered.", code=device.code), "success")
            return render_template("admin/device_key.html", devices=[(device, key)])
    return render_template(
        "admin/device_form.html",
        form=form,
        import_form=DeviceImportForm(),
        columns=devices.CSV_COLUMNS,
    )


def _id_of(model: type, code: str | None) -> int | None:
    code = (code or "").strip()
    if not code:
        return None
    return db.session.scalar(select(model.id).where(model.code == code)) or -1


@bp.route("/devices/import", methods=["POST"])
@admin_required
def device_import() -> str | Response:
    """Register the devices of a CSV file, all or none."""
    form = DeviceImportForm()
    if not form.validate_on_submit():
        flash(_("Choose a file."), "error")
        return redirect(url_for(".device_new"), code=303)
    try:
        text = form.file.data.read(2_000_000).decode("utf-8-sig")
    except UnicodeDecodeError:
        flash(_("The file must be CSV in UTF-8."), "error")
        return redirect(url_for(".device_new"), code=303)
    made, errors = devices.import_csv(db.session, current_user, text, utcnow())
    if errors:
        db.session.rollback()
        for line, code in errors[:20]:
            flash(
                _("Line %(line)d: %(error)s", line=line, error=DEVICE_ERRORS.get(code, code)),
                "error",
            )
        return redirect(url_for(".device_new"), code=303)
    db.session.commit()
    flash(_("%(n)d devices registered.", n=len(made)), "success")
    return render_template("admin/device_key.html", devices=made)


ALARM_ACTIONS = ("acknowledge", "dismiss")


@bp.route("/alarms", methods=["GET"])
def alarm_queue() -> str:
    """List alarms: open ones first by escalation, with bulk steps."""
    return _alarm_queue_page(BulkAlarmForm(), set())


def _alarm_queue_page(form: BulkAlarmForm, chosen: set[int]) -> str:
    """Render the alarm queue of the request's filters, the chosen alarms ticked."""
    state = request.args.get("state", "open")
    state = state if state in alarms.ALARM_FILTERS else "open"
    kind = request.args.get("kind", "")
    kind = kind if kind in DEVICE_KINDS else ""
    labels = {"acknowledge": _("Acknowledge"), "dismiss": _("Dismiss as false alarm")}
    form.action.choices = [(a, labels[a]) for a in ALARM_ACTIONS]
    return render_template(
        "admin/alarms.html",
        alarms=alarms.queue(db.session, state, kind),
        state=state,
        kind=kind,
        filters=alarms.ALARM_FILTERS,
        form=form,
        chosen=chosen,
        **_labels(),
    )


@bp.route("/alarms/bulk", methods=["GET", "POST"])
def alarm_bulk() -> Response | tuple[str, int]:
    """Acknowledge or dismiss the chosen alarms; those in another state are left alone. A
    refusal shows the queue again, as filtered, with what was ticked, chosen and typed (the
    form's address carries the queue's filters)."""
    filters = {k: request.args[k][:20] for k in ("state", "kind") if request.args.get(k)}
    back = url_for(".alarm_queue", **filters)
    if request.method == "GET":  # the address of a refusal, opened again: the queue
        return redirect(back, code=303)
    form = BulkAlarmForm()
    form.action.choices = [(a, "") for a in ALARM_ACTIONS]
    ids = [int(i) for i in request.form.getlist("alarm") if i.isdigit() and len(i) < 10]
    valid = form.validate()
    if valid and form.action.data == "dismiss" and not (form.reason.data or "").strip():
        form.reason.errors = [_("Give the reason it is a false alarm.")]
        flash(form.reason.errors[0], "error")  # at the top too: the field is below the list
        valid = False
    if not valid or not ids:
        if valid:
            flash(_("Choose alarms and an action."), "error")
        return _alarm_queue_page(form, set(ids)), 422
    done = skipped = 0
    now = utcnow()
    for alarm in db.session.scalars(select(Alarm).where(Alarm.id.in_(ids))).all():
        try:
            if form.action.data == "acknowledge":
                alarms.acknowledge(db.session, current_user, alarm, now)
            else:
                alarms.dismiss(db.session, current_user, alarm, form.reason.data or "", now)
            done += 1
        except alarms.AlarmError:
            skipped += 1
    db.session.commit()
    flash(_("%(n)d alarms updated, %(m)d left as they were.", n=done, m=skipped), "success")
    return redirect(back, code=303)


@bp.route("/alarms/<int:alarm_id>", methods=["GET", "POST"])
def alarm_page(alarm_id: int) -> str | Response | tuple[str, int]:
    """Show an alarm with the readings around it, and take a step on it."""
    alarm = db.session.get(Alarm, alarm_id) or abort(404)
    form = AlarmForm()
    if form.validate_on_submit():
        return _alarm_step(alarm, form)
    return _render_alarm(alarm, form)


def _render_alarm(alarm: Alarm, form: AlarmForm) -> str:
    if not form.is_submitted() and alarm.state in ("acknowledged", "verified"):
        form.text.data = alarms.last_note(db.session, alarm)  # typed with the last step
    detection = None
    if alarm.detection_id:
        from portal.models import Detection

        detection = db.session.get(Detection, alarm.detection_id)
    return render_template(
        "admin/alarm.html",
        alarm=alarm,
        form=form,
        detection=detection,
        detection_kinds=detections.KINDS,
        **_labels(),
    )


STEP_ERRORS = {
    "role": _l("Your role may not do this."),
    "state": _l("This step is not possible in the alarm's current state."),
    "reason": _l("Give the reason it is a false alarm."),
    "category": _l("The rule's category is not active: open the case by hand."),
}


def _alarm_step(alarm: Alarm, form: AlarmForm) -> Response | tuple[str, int]:
    """Take the step the form asks for; a refused one shows the alarm again with the text
    typed kept (a false alarm's reason, a case's description) and why."""
    now = utcnow()
    try:
        if form.action.data == "acknowledge":
            alarms.acknowledge(db.session, current_user, alarm, now, form.text.data or "")
        elif form.action.data == "verify":
            alarms.verify(db.session, current_user, alarm, now, form.text.data or "")
        elif form.action.data == "dismiss":
            alarms.dismiss(db.session, current_user, alarm, form.text.data or "", now)
        else:
            case = alarms.open_case(db.session, current_user, alarm, form.text.data or "", now)
            db.session.commit()
            flash(_("Case %(number)s opened.", number=case.number), "success")
            return redirect(url_for(".case_page", number=case.number), code=303)
    except alarms.AlarmError as error:
        db.session.rollback()
        flash(str(STEP_ERRORS.get(str(error), error)), "error")
        return _render_alarm(alarm, form), 422
    else:
        db.session.commit()
        flash(_("Done."), "success")
    return redirect(url_for(".alarm_page", alarm_id=alarm.id), code=303)


@bp.route("/detections/<int:detection_id>/snapshot.jpg")
def detection_snapshot(detection_id: int) -> Response:
    """Serve the snapshot a platform sent with a detection (staff only)."""
    from flask import send_file

    from portal.models import Detection
    from portal.services.photos import PhotoStore

    detection = db.session.get(Detection, detection_id) or abort(404)
    if not detection.snapshot_sha256:
        abort(404)
    path = PhotoStore(current_app.config["UPLOAD_DIR"]).path(detection.snapshot_sha256)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=3600)


@bp.route("/detection-rules", methods=["GET"])
@admin_required
def detection_rules() -> str:
    """List the detection rules (per kind, and per device where one overrides)."""
    rules = db.session.scalars(
        select(DetectionRule).order_by(DetectionRule.device_kind, DetectionRule.code)
    ).all()
    return render_template(
        "admin/detection_rules.html",
        rules=rules,
        sources=detections.precision(db.session),
        **_labels(),
    )


@bp.route("/detection-rules/<int:rule_id>", methods=["GET", "POST"])
@admin_required
def detection_rule(rule_id: int) -> str | Response:
    """Edit a rule's parameters and whether it is on."""
    import json

    rule = db.session.get(DetectionRule, rule_id) or abort(404)
    form = RuleForm(params=json.dumps(rule.params, ensure_ascii=False), active=rule.active)
    if form.validate_on_submit():
        try:
            params = json.loads(form.params.data)
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            form.params.errors.append(_("Write the parameters as a JSON object."))
        else:
            rule.params = params
            rule.active = form.active.data
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".detection_rules"), code=303)
    return render_template("admin/detection_rule.html", rule=rule, form=form, **_labels())
