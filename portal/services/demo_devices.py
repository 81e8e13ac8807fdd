"""The demo district's ~40 sensors, a day of raw readings and a month of hourly means.

Water gauges stand at the district's low points and underpasses, tilt sensors in manhole
covers, dust and noise monitors on the active construction sites. Each device is attached
to a demo facility of the right type when the facility register has one, else to the
nearest project (a device must belong to a facility or a site).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Device, Facility, FacilityType, Project, ReadingHour
from portal.services import devices, readings, rules

# Low points and underpasses (lng, lat): the first two flood in the simulated rainstorm.
LOW_POINTS = [
    ("文一路下穿隧道", 120.1432, 30.2846),
    ("天目山路下穿通道", 120.1518, 30.2731),
    ("莫干山路低洼路段", 120.1592, 30.2808),
    ("教工路涵洞", 120.1361, 30.2783),
    ("学院路低洼点", 120.1467, 30.2664),
    ("保俶路下穿", 120.1655, 30.2702),
    ("曙光路积水点", 120.1533, 30.2622),
    ("黄龙路下穿", 120.1610, 30.2650),
    ("体育场路低洼点", 120.1702, 30.2755),
    ("环城北路涵洞", 120.1745, 30.2811),
]
COVER_POINTS = [
    (120.1350 + 0.0035 * i, 30.2620 + 0.0022 * (i % 7)) for i in range(12)
]  # spread over the district, ≥ 50 m apart
COVER_TYPES = ("0101", "0102", "0103", "0106", "0108", "0112")
WATER_TYPES = ("0104", "0103", "0201")
SILENT_DEVICE = "YC-04"  # falls silent: its last reading is 45 minutes old
FLOODED = ("WL-01", "WL-02")
NOISY_SITE = "ZS-01"
OPEN_COVER = "JG-03"


def _facilities(session: Session, codes: tuple[str, ...]) -> list[Facility]:
    """Return the demo facilities of some types, if the register holds any."""
    return list(
        session.scalars(
            select(Facility)
            .join(FacilityType, FacilityType.id == Facility.type_id)
            .where(FacilityType.code.in_(codes))
            .order_by(Facility.id)
            .limit(200)
        )
    )


def _nearest(items: list, lat: float, lng: float):
    return min(items, key=lambda f: (f.lat - lat) ** 2 + ((f.lng - lng) * 0.87) ** 2)


def plan(session: Session) -> list[devices.DeviceData]:
    """Return the demo devices to register, attached to facilities or sites."""
    projects = list(session.scalars(select(Project).order_by(Project.code)))
    if not projects:
        return []
    sites = [p for p in projects if p.active_site] or projects
    water_places = _facilities(session, WATER_TYPES)
    cover_places = _facilities(session, COVER_TYPES)
    planned = []
    for i, (name, lng, lat) in enumerate(LOW_POINTS, start=1):
        data = devices.DeviceData(
            code=f"WL-{i:02d}", kind="water_depth", name=name, lat=lat, lng=lng
        )
        if water_places:
            data.facility_id = _nearest(water_places, lat, lng).id
        else:
            data.project_id = _nearest(projects, lat, lng).id
        planned.append(data)
    for i, (lng, lat) in enumerate(COVER_POINTS, start=1):
        if cover_places:
            facility = cover_places[(i - 1) % len(cover_places)]
            data = devices.DeviceData(
                code=f"JG-{i:02d}",
                kind="cover_tilt",
                name=facility.name or f"井盖 {i}",
                facility_id=facility.id,
            )
        else:
            data = devices.DeviceData(
                code=f"JG-{i:02d}",
                kind="cover_tilt",
                name=f"井盖监测 {i}",
                lat=lat,
                lng=lng,
                project_id=_nearest(projects, lat, lng).id,
            )
        planned.append(data)
    for i in range(1, 10):
        site = sites[(i - 1) % len(sites)]
        offset = 0.0004 * ((i - 1) // len(sites))
        for prefix, kind, label in (("YC", "dust_pm10", "扬尘监测"), ("ZS", "noise", "噪声监测")):
            planned.append(
                devices.DeviceData(
                    code=f"{prefix}-{i:02d}",
                    kind=kind,
                    name=f"{site.name} {label}",
                    lat=site.lat + offset + (0.0002 if kind == "noise" else 0),
                    lng=site.lng + offset,
                    project_id=site.id,
                )
            )
    return planned


def typical(device: Device, moment: datetime, rng: random.Random) -> dict[str, float]:
    """Return ordinary values of a device at a moment (dry weather, lawful site)."""
    local_hour = moment.astimezone(rules.LOCAL).hour
    if device.kind == "water_depth":
        return {"depth": round(max(0.0, rng.gauss(0.5, 0.4)), 1)}
    if device.kind == "cover_tilt":
        return {"tilt": round(abs(rng.gauss(1.0, 0.5)), 1), "open": 0.0}
    if device.kind == "dust_pm10":
        working = 7 <= local_hour < 19
        return {"pm10": round(max(5.0, rng.gauss(85 if working else 55, 12)), 1)}
    night = rules.is_night(moment)
    working = 7 <= local_hour < 19
    level = 45 if night else (63 if working else 52)
    return {"noise": round(min(max(rng.gauss(level, 3), 30.0), 100.0), 1)}


def load_devices(session: Session, now: datetime, seed: int = 2026) -> dict[str, int]:
    """Register the demo devices (once) with a month of history; return what was added."""
    if session.scalar(select(func.count()).select_from(Device)):
        return {}
    made = []
    for data in plan(session):
        device, _key = devices.register(session, None, data, now)
        made.append(device)
    if not made:
        return {}
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    raw_rows = _history(session, made, now, rng)
    return {"devices": len(made), "readings": raw_rows}


def _history(session: Session, made: list[Device], now: datetime, rng: random.Random) -> int:
    """Store the last day's readings every 10 minutes and a month of hourly means before."""
    readings.ensure_partitions(session, now, back_days=35)
    start = (now - timedelta(days=1)).replace(second=0, microsecond=0)
    rows = []
    for device in made:
        stop = now - timedelta(minutes=45) if device.code == SILENT_DEVICE else now
        moment = start
        while moment <= stop:
            for metric, value in typical(device, moment, rng).items():
                rows.append(
                    {"device_id": device.id, "ts": moment, "metric": metric, "value": value}
                )
            moment += timedelta(minutes=10)
    readings.store(session, rows, readings.Outcome(), {d.id: d.kind for d in made})
    hours = []
    first_hour = start.replace(minute=0) - timedelta(days=30)
    for device in made:
        hour = first_hour
        while hour < start.replace(minute=0):
            values = [typical(device, hour + timedelta(minutes=10 * k), rng) for k in range(6)]
            for metric in values[0]:
                series = [v[metric] for v in values]
                hours.append(
                    ReadingHour(
                        device_id=device.id,
                        hour=hour,
                        metric=metric,
                        count=len(series),
                        total=math.fsum(series),
                        low=min(series),
                        high=max(series),
                    )
                )
            hour += timedelta(hours=1)
    session.add_all(hours)
    session.flush()
    return len(rows)
