"""The facility register at a million facilities: the map's GeoJSON for a street-sized box
and the report form's nearby facilities, each beside the raw SQL index lookup.

The facilities are spread over a city-sized area around the demo district (about 40 km ×
40 km, some 600 a square kilometre, as in a dense Chinese city), 94% points of every type
and 6% road segments of 100–300 m; they live in their own databases
(`instance/facilities-1m.db`, `bench_facilities_1m`), apart from the cases'.
"""

from __future__ import annotations

import random
import statistics

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from bench.harness import Run, database_url, ensure_database, percentile, register, side_by_side
from portal.extensions import db

SOUTH, NORTH, WEST, EAST = 30.10, 30.45, 119.95, 120.40
STREET_BOX = (120.153, 30.2688, 120.157, 30.2713)  # about 385 m × 280 m
CHUNK = 10_000
# (type code, share): lamps, inlets, covers of six networks, hydrants, signs, road segments.
MIX = [
    ("0129", 35),
    ("0104", 20),
    ("0101", 5),
    ("0102", 6),
    ("0103", 8),
    ("0106", 4),
    ("0108", 4),
    ("0112", 3),
    ("0116", 5),
    ("0208", 4),
    ("0201", 6),
]
# The same index lookups as the portal's, by hand: points within the box, lines starting up
# to MAX_SPAN_DEG before it.
RAW_BOX = (
    "SELECT f.code, CAST(f.geometry AS TEXT), f.state, t.code, t.name_zh, t.name_en "
    "FROM facility f JOIN facility_type t ON t.id = f.type_id "
    "WHERE f.type_id IN ({points}) AND f.min_lat BETWEEN :min_lat AND :max_lat "
    "AND f.min_lng BETWEEN :min_lng AND :max_lng "
    "UNION ALL "
    "SELECT f.code, CAST(f.geometry AS TEXT), f.state, t.code, t.name_zh, t.name_en "
    "FROM facility f JOIN facility_type t ON t.id = f.type_id "
    "WHERE f.type_id IN ({lines}) AND f.min_lat BETWEEN :low_lat AND :max_lat "
    "AND f.min_lng BETWEEN :low_lng AND :max_lng "
    "AND f.max_lat >= :min_lat AND f.max_lng >= :min_lng LIMIT 2001"
)
RAW_NEAR = text(
    "SELECT * FROM facility WHERE type_id = :type_id "
    "AND min_lat BETWEEN :min_lat AND :max_lat AND min_lng BETWEEN :min_lng AND :max_lng"
)
NEARBY_P95_MS = 50


def ensure_facilities(session: Session, wanted: int, seed: int = 15) -> int:
    """Add synthetic facilities until the database holds `wanted`; return how many were added."""
    from bench.data import _copy
    from portal.models import Facility, FacilityType
    from portal.services import demo, facility_register

    demo.load_reference(session)
    session.commit()
    have = session.scalar(select(func.count()).select_from(Facility))
    if have >= wanted:
        return 0
    rng = random.Random(seed + have)
    types = {t.code: t for t in session.scalars(select(FacilityType))}
    codes = [code for code, _ in MIX]
    weights = [share for _, share in MIX]
    serials = facility_register.Serials(session)
    postgresql = session.get_bind().dialect.name == "postgresql"
    rows: list[dict] = []
    for _ in range(wanted - have):
        kind = types[rng.choices(codes, weights)[0]]
        lat, lng = rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)
        if kind.geometry_kind == "line":
            metres = rng.uniform(100, 300)
            end = (
                [lng + metres / 96_000, lat]
                if rng.random() < 0.5
                else [lng, lat + metres / 111_320]
            )
            geometry = {"type": "LineString", "coordinates": [[lng, lat], end]}
        else:
            geometry = {"type": "Point", "coordinates": [lng, lat]}
        placement = facility_register.place(geometry, kind.geometry_kind)
        rows.append(
            {
                "code": serials.next(kind),
                "type_id": kind.id,
                "name": "",
                "address": "",
                "state": "intact" if rng.random() < 0.97 else "damaged",
                "attributes": {},
                **placement.columns(),
            }
        )
        if len(rows) >= CHUNK:
            _flush(session, rows, postgresql, _copy)
    _flush(session, rows, postgresql, _copy)
    session.commit()
    return wanted - have


def _flush(session: Session, rows: list[dict], postgresql: bool, copy) -> None:
    from portal.models import Facility

    if rows:
        if postgresql:
            copy(session, Facility.__table__, rows)
        else:
            session.execute(insert(Facility), rows)
        rows.clear()


def facilities_app(run: Run):
    """Return the portal on the run's facility database, migrated and filled."""
    from flask_migrate import upgrade

    from portal import create_app

    url = database_url(run.database, run.cases, prefix="facilities")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
        }
    )
    ensure_database(url)
    with app.app_context():
        upgrade()
        added = ensure_facilities(db.session, run.cases)
        if added:
            with db.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        print(f"{run.database}, {run.cases:,} facilities ({added:,} added)", flush=True)
    return app


def _box_params(box: tuple[float, float, float, float]) -> dict:
    from portal.services.facility_register import MAX_SPAN_DEG

    min_lng, min_lat, max_lng, max_lat = box
    return {
        "min_lng": min_lng,
        "min_lat": min_lat,
        "max_lng": max_lng,
        "max_lat": max_lat,
        "low_lng": min_lng - MAX_SPAN_DEG,
        "low_lat": min_lat - MAX_SPAN_DEG,
    }


def _result(name: str, run: Run, portal: list[float], raw: list[float]) -> dict:
    result = {
        "benchmark": name,
        "database": run.database,
        "cases": run.cases,
        "portal_p50_ms": statistics.median(portal) * 1000,
        "portal_p95_ms": percentile(portal, 0.95) * 1000,
        "raw_p50_ms": statistics.median(raw) * 1000,
        "raw_p95_ms": percentile(raw, 0.95) * 1000,
    }
    result["ratio_p50"] = result["portal_p50_ms"] / result["raw_p50_ms"]
    result["ratio_p95"] = result["portal_p95_ms"] / result["raw_p95_ms"]
    return result


@register(
    "facilities geojson",
    "facilities GeoJSON for a street-sized box vs the raw SQL index lookup",
    "≤ 2× raw SQL at p50",
    50,
    sizes=(1_000_000,),
)
def geojson(run: Run) -> list[dict]:
    """Measure /api/v1/facilities.geojson and its raw query alternately."""
    app = facilities_app(run)
    with app.app_context():
        client = app.test_client()
        from portal.models import FacilityType

        query = "/api/v1/facilities.geojson?bbox=" + ",".join(map(str, STREET_BOX))
        params = _box_params(STREET_BOX)
        ids: dict[str, list[str]] = {"point": [], "line": []}
        for type_id, kind in db.session.execute(
            select(FacilityType.id, FacilityType.geometry_kind)
        ):
            ids[kind].append(str(int(type_id)))
        raw_box = text(RAW_BOX.format(points=",".join(ids["point"]), lines=",".join(ids["line"])))

        def raw() -> list:
            with db.engine.connect() as connection:
                return connection.execute(raw_box, params).all()

        features = len(client.get(query).get_json()["features"])
        assert features == len(raw()), features  # the same rows, both ways
        portal, reference = side_by_side(lambda: client.get(query), raw, run.rounds)
    result = _result("facilities geojson", run, portal, reference)
    result["met"] = result["ratio_p50"] <= 2.0
    result["features"] = features
    return [result]


@register(
    "facilities nearby",
    "nearby facilities of a type for the report form vs the raw SQL index lookup",
    f"p95 < {NEARBY_P95_MS} ms",
    200,
    sizes=(1_000_000,),
)
def nearby(run: Run) -> list[dict]:
    """Measure facilities.nearby() at random places, and the raw box lookup."""
    from portal.models import FacilityType
    from portal.services import facilities, geo

    app = facilities_app(run)
    rng = random.Random(7)
    places = [
        (rng.uniform(SOUTH + 0.01, NORTH - 0.01), rng.uniform(WEST + 0.01, EAST - 0.01))
        for _ in range(run.rounds + 10)
    ]
    with app.app_context():
        lamp = db.session.scalar(select(FacilityType.id).where(FacilityType.code == "0129"))
        mine, theirs = iter(places * 2), iter(places * 2)
        found = []

        def portal() -> None:
            lat, lng = next(mine)
            found.append(len(facilities.nearby(db.session, lamp, lat, lng)))
            db.session.rollback()  # a request's session ends with it

        def raw() -> list:
            lat, lng = next(theirs)
            min_lat, min_lng, max_lat, max_lng = geo.bbox_around(lat, lng, 150)
            params = _box_params((min_lng, min_lat, max_lng, max_lat)) | {"type_id": lamp}
            with db.engine.connect() as connection:
                return connection.execute(RAW_NEAR, params).all()

        portal_times, reference = side_by_side(portal, raw, run.rounds)
    result = _result("facilities nearby", run, portal_times, reference)
    result["met"] = result["portal_p95_ms"] < NEARBY_P95_MS
    result["summary_text"] = f"p95 {result['portal_p95_ms']:.1f} ms"
    result["found_median"] = statistics.median(found)
    return [result]
