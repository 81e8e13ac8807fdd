"""The one map for staff (一张图) and the grid hotspots list."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.queue import department_choices
from admin.sensors import ALARM_LABELS, KIND_LABELS, STATUS_LABELS
from portal.api.cases import parse_bbox
from portal.extensions import db
from portal.models import Case, Category, FacilityType, Hotspot, utcnow
from portal.services import hotspots, one_map
from portal.web import state_label


def _links() -> one_map.Links:
    case_url = url_for("admin.case_page", number="NUMBER")
    project_url = url_for("public.project_page", code="CODE")
    facility_url = (
        url_for("public.facility_page", code="CODE")
        if "public.facility_page" in current_app.view_functions
        else "/facilities/CODE"  # the public page of the facility register
    )
    listing = url_for("admin.hotspot_list")
    device_url = url_for("admin.device_page", device_id=0)
    alarm_url = url_for("admin.alarm_page", alarm_id=0)
    return one_map.Links(
        case=lambda n: case_url.replace("NUMBER", n),
        project=lambda c: project_url.replace("CODE", c),
        facility=lambda c: facility_url.replace("CODE", c),
        hotspots=lambda: listing,
        device=lambda i: device_url.replace("/0", f"/{i}", 1),
        alarm=lambda i: alarm_url.replace("/0", f"/{i}", 1),
    )


def _filters() -> tuple[int | None, int | None, int | None, int | None]:
    args = request.args
    return one_map.read_filters(
        db.session, args.get("department", ""), args.get("category", ""), args.get("type", "")
    )


def _map_strings() -> str:
    strings = {f"state_{s}": state_label(s) for s in ("submitted", "accepted", "dispatched")}
    strings.update({f"state_{s}": state_label(s) for s in ("in_progress", "resolved")})
    strings.update(
        overdue=_("Overdue"),
        site=_("Construction site"),
        open_cases=_("%(n)s open cases"),
        hotspot=_("%(group)s: %(observed)s cases this week, %(expected)s expected"),
        loaded=_("%(n)s shown"),
        truncated=_("Only the first %(n)s are shown: zoom in to see all."),
        load_failed=_("The map data could not be loaded."),
        **{f"facility_{s}": label for s, label in _facility_states().items()},
        **{f"phase_{p}": label for p, label in _phases().items()},
        **{f"kind_{k}": str(label) for k, label in KIND_LABELS.items()},
        **{f"device_{k}": str(label) for k, label in STATUS_LABELS.items()},
        **{f"alarm_{k}": str(label) for k, label in ALARM_LABELS.items()},
    )
    return json.dumps(strings, ensure_ascii=False)


def _facility_states() -> dict[str, str]:
    return {
        "intact": _("Intact"),
        "damaged": _("Damaged"),
        "missing": _("Missing"),
        "occupied": _("Occupied"),
        "abandoned": _("Abandoned"),
    }


def _phases() -> dict[str, str]:
    return {
        "approval": _("Approval"),
        "tender": _("Tender"),
        "construction": _("Construction"),
        "acceptance": _("Acceptance"),
        "operation": _("Operation"),
    }


@bp.route("/map")
def one_map_page() -> tuple[str, int]:
    """Show every layer of the district on one map, with lists that work without tiles."""
    try:
        department_id = _filters()[0]
        status = 200
    except one_map.MapError:
        flash(
            _("Unknown department, category or facility type: the filter was not applied."), "error"
        )
        department_id, status = None, 400
    department_id = one_map.scoped(current_user, department_id)
    now = utcnow()
    categories = db.session.scalars(select(Category).order_by(Category.sort_order, Category.code))
    types = db.session.scalars(
        select(FacilityType).order_by(FacilityType.sort_order, FacilityType.code)
    )
    return render_template(
        "admin/map.html",
        departments=department_choices() if current_user.role != "handler" else [],
        categories=[(c.code, c.name) for c in categories],
        facility_types=[(t.code, t.name) for t in types],
        hotspots=one_map.latest_hotspots(db.session, department_id),
        cells=one_map.cell_counts(db.session, department_id),
        overdue=one_map.overdue_cases(db.session, department_id, now),
        strings=_map_strings(),
        bounds=one_map.district_bounds(db.session),
        args=request.args,
    ), status


@bp.route("/api/map/<name>.geojson")
def one_map_layer(name: str) -> Response | tuple[Response, int]:
    """Return one layer of the map inside a box, as GeoJSON (staff only, like the page)."""
    if name not in one_map.LAYERS:
        abort(404)
    bbox = parse_bbox(request.args.get("bbox", ""))
    if bbox is None:
        message = _("bbox must be minLng,minLat,maxLng,maxLat in degrees.")
        return jsonify(error={"code": 400, "message": message}), 400
    try:
        department_id, category_id, group_id, kind = _filters()
    except one_map.MapError:
        message = _("Unknown department, category or facility type.")
        return jsonify(error={"code": 400, "message": message}), 400
    query = one_map.MapQuery(
        bbox=bbox,
        department_id=one_map.scoped(current_user, department_id),
        category_id=category_id,
        group_id=group_id,
        facility_type_id=kind,
    )
    response = jsonify(one_map.layer(db.session, name, query, _links(), utcnow()))
    response.mimetype = "application/geo+json"
    return response


@bp.route("/hotspots", methods=["GET", "POST"])
@dispatcher_required
def hotspot_list() -> Response | tuple[str, int]:
    """List a week's grid hotspots with expected and observed counts and the cases behind."""
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    form = FlaskForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        week = hotspots.current_week(utcnow(), tz)
        found = hotspots.compute(
            db.session, week, hotspots.Method.from_config(current_app.config), tz, utcnow()
        )
        db.session.commit()
        flash(_("Hotspots of this week recomputed: %(n)s found.", n=len(found)), "success")
        return redirect(url_for(".hotspot_list"), code=303)
    status, week = 200, None
    if request.args.get("week"):
        try:
            week = hotspots.parse_week(request.args["week"])
        except hotspots.HotspotError:
            flash(_("Give the week as YYYY-Www or a date in it."), "error")
            status = 400
    week = week or hotspots.latest_week(db.session)
    found = hotspots.of_week(db.session, week) if week else []
    behind = {
        case.id: case
        for case in db.session.scalars(
            select(Case).where(Case.id.in_({i for h in found for i in h.case_ids}))
        )
    }
    weeks = db.session.scalars(
        select(Hotspot.week_start).distinct().order_by(Hotspot.week_start.desc()).limit(12)
    ).all()
    return render_template(
        "admin/hotspots.html",
        form=form,
        week=week,
        weeks=weeks,
        hotspots=found,
        behind=behind,
        method=hotspots.Method.from_config(current_app.config),
    ), status
