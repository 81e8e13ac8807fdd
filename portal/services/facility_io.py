"""Import and export of the facility register as GeoJSON or CSV, streamed.

A survey file (部件普查) is read row by row (ijson for GeoJSON, the csv module for CSV)
and written in batches, so a file of hundreds of megabytes never sits in memory. Every
row is checked; a refused row is reported with its reason, and a file with refused rows
changes nothing unless `skip_bad` is given. A dry run reports what would change and
writes nothing. Rows are matched by code: a re-import updates what changed.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO

import eviltransform
import ijson
from flask_babel import lazy_gettext as _l
from shapely import wkt
from shapely.errors import ShapelyError
from shapely.geometry import mapping, shape
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from portal.models import FACILITY_STATES, Department, Facility, FacilityStateChange, FacilityType
from portal.models import Zone as ZoneModel
from portal.models.base import utcnow
from portal.services import facility_register as register
from portal.services import service_area
from portal.services.facility_register import FacilityError, Placement

BATCH = 1000
REFUSALS_KEPT = 1000  # listed on the admin page; the command prints every one as it comes
CRS = ("wgs84", "gcj02")
FORMATS = ("geojson", "csv")
KNOWN = {"code", "type", "name", "address", "state", "installed_on"}
# Columns an export writes that an import does not read back as attributes.
DERIVED = {"type_name", "department", "grid", "lon", "lng", "longitude", "lat", "latitude", "wkt"}

REASONS = {
    "geometry": _l("broken geometry"),
    "geometry_kind": _l("the geometry does not fit the type (a point or a line)"),
    "too_long": _l("the line is longer than 1 km: split it into segments"),
    "duplicate": _l("duplicate code in the file"),
    "outside": _l("outside the district"),
    "unknown_type": _l("unknown facility type"),
    "swapped": _l("latitude and longitude are swapped"),
    "code": _l("the code does not start with the district's and the type's codes"),
    "state": _l("unknown state"),
    "date": _l("the install date is not a date (YYYY-MM-DD)"),
    "row": _l("unreadable row"),
}


class FileError(ValueError):
    """The file as a whole cannot be read (not GeoJSON, not CSV, no geometry columns)."""


@dataclass
class Refusal:
    """A row that was not imported, and why."""

    row: int  # 1 = the first feature or the first data line
    reason: str
    detail: str = ""
    code: str = ""

    @property
    def message(self) -> str:
        """Return the reason in the current language, with its detail."""
        text = str(REASONS.get(self.reason, self.reason))
        detail = str(register.DETAILS.get(self.detail, self.detail))
        return f"{text} ({detail})" if detail else text


@dataclass
class Report:
    """What an import did (or, in a dry run, would do)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    refused_count: int = 0
    refused: list[Refusal] = field(default_factory=list)
    applied: bool = False  # False: the caller must roll back (dry run, or refused rows)

    def refuse(self, refusal: Refusal) -> None:
        """Count a refused row, keeping the first ones for the page."""
        self.refused_count += 1
        if len(self.refused) < REFUSALS_KEPT:
            self.refused.append(refusal)


@dataclass
class Parsed:
    """A checked row, ready to write."""

    row: int
    facility_type: FacilityType
    placement: Placement
    code: str | None
    fields: dict


def detect_format(filename: str) -> str:
    """Tell the format from a file name: csv, else GeoJSON."""
    return "csv" if filename.lower().endswith((".csv", ".txt")) else "geojson"


# Reading ------------------------------------------------------------------------------


def geojson_rows(stream: IO[bytes]) -> Iterator[dict]:
    """Yield each feature of a GeoJSON FeatureCollection as {geometry, properties...}."""
    try:
        for feature in ijson.items(stream, "features.item", use_float=True):
            if not isinstance(feature, dict):
                yield {"_error": "kind"}
                continue
            properties = feature.get("properties")
            row = dict(properties) if isinstance(properties, dict) else {}
            row["_geometry"] = feature.get("geometry")
            yield row
    except ijson.JSONError as error:
        raise FileError(_l("not valid GeoJSON: %(error)s", error=error)) from error


def csv_rows(stream: IO[bytes]) -> Iterator[dict]:
    """Return the data lines of a CSV file (UTF-8, a header line) as dicts, one by one."""
    text = codecs.getreader("utf-8-sig")(stream)
    try:
        reader = csv.DictReader(text)
        columns = {c.strip().lower() for c in reader.fieldnames or []}
    except (UnicodeDecodeError, csv.Error) as error:
        raise FileError(_l("not a UTF-8 CSV file: %(error)s", error=error)) from error
    if "wkt" not in columns and not (
        columns & {"lon", "lng", "longitude"} and columns & {"lat", "latitude"}
    ):
        raise FileError(_l("the CSV needs lon and lat columns, or a wkt column"))
    return _csv_lines(reader)


def _csv_lines(reader: csv.DictReader) -> Iterator[dict]:
    try:
        for line in reader:
            # Extra cells beyond the header come under None: they have no column to go to.
            yield {
                k.strip().lower(): (v or "").strip()
                for k, v in line.items()
                if isinstance(k, str) and isinstance(v, str | None)
            }
    except (UnicodeDecodeError, csv.Error) as error:
        raise FileError(_l("not a UTF-8 CSV file: %(error)s", error=error)) from error


def _csv_geometry(row: dict) -> dict | None:
    """Return a CSV row's geometry, from its WKT or its lon/lat columns."""
    if row.get("wkt"):
        try:
            return mapping(wkt.loads(row["wkt"]))
        except (ShapelyError, ValueError, TypeError) as error:
            raise FacilityError("geometry", "WKT") from error
    lng = row.get("lon") or row.get("lng") or row.get("longitude") or ""
    lat = row.get("lat") or row.get("latitude") or ""
    try:
        return {"type": "Point", "coordinates": [float(lng), float(lat)]}
    except ValueError as error:
        raise FacilityError("geometry", "lon/lat") from error


# Checking -----------------------------------------------------------------------------


def _swap(geometry: dict) -> dict:
    """Return a geometry with latitude and longitude exchanged."""
    if geometry["type"] == "Point":
        return {"type": "Point", "coordinates": list(geometry["coordinates"][:2])[::-1]}
    return {
        "type": geometry["type"],
        "coordinates": [list(p[:2])[::-1] for p in geometry["coordinates"]],
    }


def _from_gcj02(geometry: dict) -> dict:
    """Return a GCJ-02 geometry in WGS-84 (eviltransform's exact inverse, ~1e-6° off)."""

    def convert(position: list) -> list[float]:
        lat, lng = eviltransform.gcj2wgs_exact(float(position[1]), float(position[0]))
        return [round(lng, 7), round(lat, 7)]

    if geometry["type"] == "Point":
        return {"type": "Point", "coordinates": convert(geometry["coordinates"])}
    return {"type": geometry["type"], "coordinates": [convert(p) for p in geometry["coordinates"]]}


class Checker:
    """Check rows one by one against the types, the district and the rows seen before."""

    def __init__(self, session: Session, crs: str = "wgs84") -> None:
        self.types = {t.code: t for t in session.scalars(select(FacilityType))}
        self.area = service_area.current(session)
        self.crs = crs
        self.seen: dict[str, int] = {}

    def _inside(self, geometry: dict) -> bool:
        return self.area is None or self.area.area.covers(shape(geometry))

    def _place(self, geometry: dict, kind: str) -> Placement:
        """Place a geometry, telling swapped coordinates from ones outside the district."""
        try:
            placement = register.place(geometry, kind)
        except FacilityError as error:
            if error.reason == "geometry" and self._swapped_fits(geometry, kind):
                raise FacilityError("swapped") from error
            raise
        if not self._inside(placement.geometry):
            if self._swapped_fits(geometry, kind):
                raise FacilityError("swapped")
            raise FacilityError("outside", f"{placement.lat:.6f}, {placement.lng:.6f}")
        return placement

    def _swapped_fits(self, geometry: dict, kind: str) -> bool:
        """Tell whether the geometry, its coordinates exchanged, is a place in the district."""
        if self.area is None:
            return False
        try:
            swapped = _swap(geometry)
            if self.crs == "gcj02":
                swapped = _from_gcj02(swapped)
            return self._inside(register.place(swapped, kind).geometry)
        except (FacilityError, TypeError, ValueError, KeyError, IndexError):
            return False

    def check(self, number: int, row: dict) -> Parsed:
        """Return a row ready to write; raise FacilityError with the reason if refused."""
        if "_error" in row:
            raise FacilityError("row", row["_error"])
        type_code = str(row.get("type") or "").strip()
        facility_type = self.types.get(type_code)
        if facility_type is None:
            raise FacilityError("unknown_type", type_code)
        geometry = row["_geometry"] if "_geometry" in row else _csv_geometry(row)
        if not isinstance(geometry, dict) or not isinstance(
            geometry.get("coordinates"), list | tuple
        ):
            raise FacilityError("geometry")
        if self.crs == "gcj02" and geometry.get("type") in ("Point", "LineString"):
            try:
                geometry = _from_gcj02(geometry)
            except (TypeError, ValueError, IndexError) as error:
                raise FacilityError("geometry") from error
        placement = self._place(geometry, facility_type.geometry_kind)
        code = str(row.get("code") or "").strip() or None
        if code is not None:
            code = register.check_code(code, facility_type)
            if code in self.seen:
                raise FacilityError("duplicate", f"{code} #{self.seen[code]}")
            self.seen[code] = number
        state = str(row.get("state") or "intact").strip()
        if state not in FACILITY_STATES:
            raise FacilityError("state", state)
        installed = str(row.get("installed_on") or "").strip()
        try:
            installed_on = date.fromisoformat(installed) if installed else None
        except ValueError as error:
            raise FacilityError("date", installed) from error
        attributes = {
            k: v
            for k, v in row.items()
            if not k.startswith("_") and k not in KNOWN | DERIVED and v not in ("", None)
        }
        if isinstance(row.get("attributes"), str):  # a CSV export's column of JSON
            attributes.pop("attributes", None)
            with contextlib.suppress(ValueError):
                extra = json.loads(row["attributes"] or "{}")
                attributes.update(extra if isinstance(extra, dict) else {})
        return Parsed(
            number,
            facility_type,
            placement,
            code,
            {
                "name": str(row.get("name") or "")[:200],
                "address": str(row.get("address") or "")[:255],
                "state": state,
                "installed_on": installed_on,
                "attributes": attributes,
            },
        )


# Writing ------------------------------------------------------------------------------


class Writer:
    """Write checked rows in batches: new codes inserted, known codes updated if changed."""

    def __init__(self, session: Session, report: Report, write: bool) -> None:
        self.session = session
        self.report = report
        self.write = write
        self.locator = register.Locator(session)
        self.serials = register.Serials(session)
        self.batch: list[Parsed] = []

    def add(self, parsed: Parsed) -> None:
        """Queue a row; write the batch when it is full."""
        self.batch.append(parsed)
        if len(self.batch) >= BATCH:
            self.flush()

    def stop(self) -> None:
        """Write nothing more (a row was refused and the file will not be applied)."""
        self.write = False

    def flush(self) -> None:
        """Write (or, when not writing, only count) the queued rows."""
        batch, self.batch = self.batch, []
        if not batch:
            return
        codes = [p.code for p in batch if p.code]
        existing = {
            f.code: f
            for f in self.session.execute(
                select(
                    Facility.id,
                    Facility.code,
                    Facility.geometry,
                    Facility.name,
                    Facility.address,
                    Facility.state,
                    Facility.installed_on,
                    Facility.attributes,
                ).where(Facility.code.in_(codes))
            )
        }
        for code in codes:
            self.serials.taken(code, next(p.facility_type for p in batch if p.code == code))
        now = utcnow()
        inserts, updates, changes = [], [], []
        for parsed in batch:
            old = existing.get(parsed.code) if parsed.code else None
            if old is None:
                self.report.new += 1
                if self.write:
                    inserts.append(self._new_row(parsed, now))
                continue
            values = self._changed(parsed, old)
            if not values:
                self.report.unchanged += 1
                continue
            self.report.updated += 1
            if "state" in values:
                changes.append(
                    {
                        "facility_id": old.id,
                        "from_state": old.state,
                        "to_state": values["state"],
                        "reason": "import",
                        "created_at": now,
                    }
                )
            updates.append({"id": old.id, "updated_at": now, **values})
        if not self.write:
            return
        if inserts:
            self.session.execute(insert(Facility), inserts)
        if updates:
            self.session.execute(update(Facility), updates)
        if changes:
            self.session.execute(insert(FacilityStateChange), changes)

    def _new_row(self, parsed: Parsed, now) -> dict:
        return {
            "code": parsed.code or self.serials.next(parsed.facility_type),
            "type_id": parsed.facility_type.id,
            **parsed.fields,
            **parsed.placement.columns(),
            **self.locator.columns(parsed.facility_type, parsed.placement),
            "created_at": now,
            "updated_at": now,
        }

    def _changed(self, parsed: Parsed, old) -> dict:
        values = {k: v for k, v in parsed.fields.items() if getattr(old, k) != v}
        if parsed.placement.geometry != old.geometry:
            values.update(parsed.placement.columns())
            values.update(self.locator.columns(parsed.facility_type, parsed.placement))
        return values


def import_rows(
    session: Session,
    rows: Iterable[dict],
    *,
    dry_run: bool = False,
    crs: str = "wgs84",
    skip_bad: bool = False,
    on_refused: Callable[[Refusal], None] | None = None,
) -> Report:
    """Check and write rows (features or CSV lines); return the report.

    Nothing is committed here: when `report.applied` is False (a dry run, or refused rows
    without `skip_bad`), the caller rolls the session back.
    """
    if crs not in CRS:
        raise FileError(f"unknown CRS {crs}")
    report = Report()
    checker = Checker(session, crs)
    writer = Writer(session, report, write=not dry_run)
    for number, row in enumerate(rows, start=1):
        try:
            parsed = checker.check(number, row)
        except FacilityError as error:
            code = str(row.get("code") or "") if isinstance(row, dict) else ""
            refusal = Refusal(number, error.reason, error.detail, code)
            report.refuse(refusal)
            if on_refused is not None:
                on_refused(refusal)
            if not skip_bad:
                writer.stop()
            continue
        writer.add(parsed)
    writer.flush()
    report.applied = not dry_run and (skip_bad or report.refused_count == 0)
    if report.applied:
        session.flush()
    return report


def import_file(session: Session, stream: IO[bytes], fmt: str, **options) -> Report:
    """Import a GeoJSON or CSV file from a binary stream; see import_rows."""
    if fmt not in FORMATS:
        raise FileError(f"unknown format {fmt}")
    rows = csv_rows(stream) if fmt == "csv" else geojson_rows(stream)
    return import_rows(session, rows, **options)


# Export -------------------------------------------------------------------------------

CSV_COLUMNS = [
    "code",
    "type",
    "type_name",
    "lon",
    "lat",
    "wkt",
    "name",
    "address",
    "state",
    "installed_on",
    "department",
    "grid",
    "attributes",
]


def _export_rows(session: Session) -> Iterator:
    query = (
        select(
            Facility.code,
            Facility.geometry,
            Facility.lat,
            Facility.lng,
            Facility.name,
            Facility.address,
            Facility.state,
            Facility.installed_on,
            Facility.attributes,
            FacilityType.code.label("type_code"),
            FacilityType.name_zh.label("type_name"),
            Department.code.label("department"),
            ZoneModel.code.label("grid"),
        )
        .join(FacilityType, FacilityType.id == Facility.type_id)
        .outerjoin(Department, Department.id == Facility.department_id)
        .outerjoin(ZoneModel, ZoneModel.id == Facility.grid_id)
        .order_by(Facility.id)
        .execution_options(yield_per=BATCH)
    )
    yield from session.execute(query)


def export_geojson(session: Session) -> Iterator[str]:
    """Yield the register as a GeoJSON FeatureCollection, in pieces."""
    yield '{"type":"FeatureCollection","features":[\n'
    first = True
    for row in _export_rows(session):
        properties = {
            "code": row.code,
            "type": row.type_code,
            "type_name": row.type_name,
            "name": row.name,
            "address": row.address,
            "state": row.state,
            "installed_on": row.installed_on.isoformat() if row.installed_on else "",
            "department": row.department or "",
            "grid": row.grid or "",
            **(row.attributes or {}),
        }
        feature = {"type": "Feature", "geometry": row.geometry, "properties": properties}
        yield ("" if first else ",\n") + json.dumps(feature, ensure_ascii=False)
        first = False
    yield "\n]}\n"


def export_csv(session: Session) -> Iterator[str]:
    """Yield the register as CSV lines (UTF-8 with a BOM, for spreadsheet programs)."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(CSV_COLUMNS)
    yield "\ufeff" + buffer.getvalue()
    for row in _export_rows(session):
        buffer.seek(0)
        buffer.truncate()
        out.writerow(
            [
                row.code,
                row.type_code,
                row.type_name,
                row.lng,
                row.lat,
                shape(row.geometry).wkt,
                row.name,
                row.address,
                row.state,
                row.installed_on.isoformat() if row.installed_on else "",
                row.department or "",
                row.grid or "",
                json.dumps(row.attributes or {}, ensure_ascii=False),
            ]
        )
        yield buffer.getvalue()
