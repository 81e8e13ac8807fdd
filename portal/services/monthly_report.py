"""The monthly workbook for the office's meeting: KPIs, departments, late cases, red and black.

Written with openpyxl in write-only mode, row by row, so a long list of late cases never sits in
memory. Headers and sheet names are in the locale active when it is written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import IO
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Category, Department, Zone
from portal.models.base import in_english
from portal.services import contractors, kpi

PERCENT = "0.0%"
STREAM_ROWS = 1000


def sheet_names() -> dict[str, str]:
    """Return the translated names of the four sheets (at most 31 characters each)."""
    return {
        "kpis": _("KPIs"),
        "departments": _("By department"),
        "overdue": _("Late cases"),
        "lists": _("Red and black list"),
    }


def _percent(sheet: WriteOnlyWorksheet, value: float | None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = PERCENT
    return cell


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    """Return a moment as the office's wall-clock time: spreadsheets have no time zones."""
    return value.astimezone(tz).replace(tzinfo=None) if value else None


def write(
    session: Session, month: date, now: datetime, tz: ZoneInfo, target: str | IO[bytes]
) -> None:
    """Write the month's workbook to a file name or a binary file."""
    book = Workbook(write_only=True)
    names = sheet_names()
    _kpi_sheet(book.create_sheet(names["kpis"]), session, month, now, tz)
    _department_sheet(book.create_sheet(names["departments"]), session, month, now, tz)
    _late_sheet(book.create_sheet(names["overdue"]), session, month, now, tz)
    _list_sheet(book.create_sheet(names["lists"]), session, now, tz)
    book.save(target)


def _kpi_sheet(sheet, session: Session, month: date, now: datetime, tz: ZoneInfo) -> None:
    card = kpi.scorecard(session, month, now, tz)
    sheet.append([_("Month"), card.month_text, _("Computed at"), _local(now, tz)])
    sheet.append([])
    sheet.append([_("Indicator"), _("Rate"), _("Target"), _("Counted"), _("Of"), _("Definition")])
    for rate in card.rates.values():
        sheet.append(
            [
                rate.label,
                _percent(sheet, rate.value),
                _percent(sheet, rate.target),
                rate.numerator,
                rate.denominator,
                rate.definition,
            ]
        )


def _department_sheet(sheet, session: Session, month: date, now: datetime, tz: ZoneInfo) -> None:
    sheet.append(
        [_("Department"), _("Code")]
        + [str(kpi.LABELS[key]) for key in kpi.KEYS]
        + [_("Cases counted for resolution")]
    )
    for department, card in kpi.by_department(session, month, now, tz):
        sheet.append(
            [department.name, department.code]
            + [_percent(sheet, card.rates[key].value) for key in kpi.KEYS]
            + [card.rates["resolution_rate"].denominator]
        )


def _late_sheet(sheet, session: Session, month: date, now: datetime, tz: ZoneInfo) -> None:
    """List the month's cases that missed a deadline or are past one now."""
    late_response, late_resolution = kpi.late_clocks(now)
    sheet.append(
        [
            _("Case number"),
            _("Category"),
            _("Department"),
            _("Zone"),
            _("State"),
            _("Priority"),
            _("Created"),
            _("Respond by"),
            _("Responded"),
            _("Resolve by"),
            _("Resolved at"),
            _("Late response"),
            _("Late resolution"),
        ]
    )
    from portal.web import priority_label, state_label

    query = (
        select(
            Case.number,
            Category.name_zh,
            Category.name_en,
            Department.name_zh.label("department_zh"),
            Department.name_en.label("department_en"),
            Zone.name_zh.label("zone_zh"),
            Zone.name_en.label("zone_en"),
            Case.state,
            Case.priority,
            Case.created_at,
            Case.respond_due_at,
            Case.responded_at,
            Case.resolve_due_at,
            Case.resolved_at,
            late_response.label("late_response"),
            late_resolution.label("late_resolution"),
        )
        .join(Category, Category.id == Case.category_id)
        .outerjoin(Department, Department.id == Case.department_id)
        .outerjoin(Zone, Zone.id == Case.zone_id)
        .where(kpi.month_cases(month, tz), late_response | late_resolution)
        .order_by(Case.created_at, Case.id)
        .execution_options(yield_per=STREAM_ROWS)
    )
    english = in_english()
    yes, no = _("Yes"), _("No")
    for row in session.execute(query):
        sheet.append(
            [
                row.number,
                row.name_en if english and row.name_en else row.name_zh,
                (row.department_en if english and row.department_en else row.department_zh) or "",
                (row.zone_en if english and row.zone_en else row.zone_zh) or "",
                state_label(row.state),
                priority_label(row.priority),
                _local(row.created_at, tz),
                _local(row.respond_due_at, tz),
                _local(row.responded_at, tz),
                _local(row.resolve_due_at, tz),
                _local(row.resolved_at, tz),
                yes if row.late_response else no,
                yes if row.late_resolution else no,
            ]
        )


def _list_sheet(sheet, session: Session, now: datetime, tz: ZoneInfo) -> None:
    sheet.append(
        [
            _("List"),
            _("Contractor"),
            _("Unified social credit code"),
            _("Reason"),
            _("Confirmed"),
            _("Until"),
        ]
    )
    for kind, label in (("red", _("Red list")), ("black", _("Black list"))):
        for entry in contractors.published(session, kind, now.astimezone(tz).date()):
            sheet.append(
                [
                    label,
                    entry.contractor.name,
                    entry.contractor.credit_code,
                    entry.reason,
                    _local(entry.confirmed_at, tz),
                    entry.expires_on,
                ]
            )
