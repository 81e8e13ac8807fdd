"""The public KPI page: a month's rates beside their targets, and the twelve-month trend."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import abort, current_app, render_template, request
from flask_babel import gettext as _

from portal.extensions import db
from portal.models import utcnow
from portal.public import bp
from portal.services import followups, kpi


def chosen_month() -> tuple[date, ZoneInfo]:
    """Return the month asked for in ?month=YYYY-MM (this month by default), or answer 400."""
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    text = request.args.get("month", "")
    if not text:
        return kpi.current_month(utcnow(), tz), tz
    try:
        return kpi.parse_month(text), tz
    except kpi.KpiError:
        abort(400, _("month must be YYYY-MM."))


def month_or_error() -> tuple[date, ZoneInfo, str]:
    """Return the month asked for, or this month with a message saying what was wrong."""
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    text = request.args.get("month", "")
    try:
        return (kpi.parse_month(text) if text else kpi.current_month(utcnow(), tz)), tz, ""
    except kpi.KpiError:
        message = _(
            "%(value)s is not a month: choose one between 2000-01 and 2100-12, written as "
            "YYYY-MM. This month is shown instead.",
            value=text[:20],
        )
        return kpi.current_month(utcnow(), tz), tz, message


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def chart_data(card: kpi.Scorecard, months: list[kpi.Scorecard]) -> dict:
    """Return what the page script draws: the month against targets, and the trend."""
    return {
        "month": {
            "labels": [r.label for r in card.rates.values()],
            "values": [_percent(r.value) for r in card.rates.values()],
            "targets": [_percent(r.target) for r in card.rates.values()],
            "value_name": card.month_text,
            "target_name": _("Target"),
        },
        "trend": {
            "months": [m.month_text for m in months],
            "series": [
                {
                    "name": str(kpi.LABELS[key]),
                    "values": [_percent(m.rates[key].value) for m in months],
                }
                for key in kpi.KEYS
            ],
        },
    }


def kpi_context(month: date, tz: ZoneInfo) -> dict:
    """Return what both KPI pages show for a month: its scorecard, the trend and the charts."""
    now = utcnow()
    months = kpi.trend(db.session, month, now, tz)
    card = months[-1]
    return {
        "card": card,
        "months": months,
        "charts": chart_data(card, months),
        "month_text": card.month_text,
        "keys": kpi.KEYS,
        "labels": kpi.LABELS,
        "definitions": kpi.DEFINITIONS,
        "computed_at": now,
        "rebounds": followups.rebound_rates(
            db.session, kpi.month_start(month, tz), kpi.month_start(kpi.add_months(month, 1), tz)
        ),
    }


@bp.route("/kpi")
def kpi_page() -> tuple[str, int]:
    """Show the office's KPIs for a month beside their targets, with the trend."""
    month, tz, error = month_or_error()
    page = render_template("public/kpi.html", month_error=error, **kpi_context(month, tz))
    return page, 422 if error else 200
