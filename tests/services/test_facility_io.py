"""Importing and exporting the facility register: every refusal, dry runs, re-imports."""

import csv
import io
import json
import tracemalloc

import eviltransform
import pytest
from sqlalchemy import func, select

from portal.models import Facility, FacilityStateChange
from portal.services import facility_io

LAMP = "0129"
ROAD = "0201"
CODE = "3301050129{:06d}"


def feature(lng, lat, type_code=LAMP, **properties) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": {"type": type_code, **properties},
    }


def collection(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def run(db, data: bytes, fmt: str = "geojson", **options) -> facility_io.Report:
    report = facility_io.import_file(db.session, io.BytesIO(data), fmt, **options)
    if report.applied:
        db.session.commit()
    else:
        db.session.rollback()
    return report


def count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Facility))


GOOD = [
    feature(120.1400, 30.2650, code=CODE.format(1), state="damaged", installed_on="2019-05-01"),
    feature(120.1410, 30.2650, code=CODE.format(2), pole="steel"),
    {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[120.16, 30.28], [120.17, 30.28]]},
        "properties": {"type": ROAD, "name": "湖墅南路 1 段"},
    },
]
# One refused row for each reason, between good ones.
BAD = [
    {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": ["x", 30.27]},
        "properties": {"type": LAMP},
    },
    feature(120.1420, 30.2660, code=CODE.format(1)),  # the code of the first row again
    feature(120.3000, 30.4000),  # outside the district
    feature(120.1430, 30.2670, type_code="9999"),
    feature(30.2680, 120.1440),  # latitude and longitude swapped
]


def test_geojson_import_with_owner_grid_and_attributes(db, reference):
    report = run(db, collection(*GOOD))
    assert (report.new, report.updated, report.refused_count, report.applied) == (3, 0, 0, True)
    lamp = db.session.scalar(select(Facility).where(Facility.code == CODE.format(1)))
    assert lamp.state == "damaged" and lamp.installed_on.isoformat() == "2019-05-01"
    assert lamp.grid.code == "GS-MS-01"
    second = db.session.scalar(select(Facility).where(Facility.code == CODE.format(2)))
    assert second.attributes == {"pole": "steel"}
    road = db.session.scalar(select(Facility).where(Facility.name == "湖墅南路 1 段"))
    assert road.code.startswith("3301050201") and road.geometry["type"] == "LineString"


def test_every_refusal_is_reported_and_nothing_changes(db, reference):
    report = run(db, collection(GOOD[0], *BAD, GOOD[1]))
    assert not report.applied and count(db) == 0
    reasons = {r.row: r.reason for r in report.refused}
    assert reasons == {2: "geometry", 3: "duplicate", 4: "outside", 5: "unknown_type", 6: "swapped"}
    assert report.refused_count == 5


def test_skip_bad_imports_the_good_rows(db, reference):
    report = run(db, collection(GOOD[0], *BAD, GOOD[1]), skip_bad=True)
    assert report.applied and report.new == 2 and report.refused_count == 5
    assert count(db) == 2


def test_dry_run_counts_and_changes_nothing(db, reference):
    run(db, collection(GOOD[0]))
    changed = feature(120.1400, 30.2650, code=CODE.format(1), state="intact")
    report = run(db, collection(changed, GOOD[1]), dry_run=True)
    assert (report.new, report.updated, report.unchanged, report.applied) == (1, 1, 0, False)
    assert count(db) == 1
    assert db.session.scalar(select(Facility.state)) == "damaged"


def test_reimport_updates_by_code_and_keeps_the_state_history(db, reference):
    run(db, collection(*GOOD))
    moved = feature(
        120.1700, 30.2850, code=CODE.format(1), state="intact", installed_on="2019-05-01"
    )
    report = run(db, collection(moved, GOOD[1]))
    assert (report.new, report.updated, report.unchanged) == (0, 1, 1)
    lamp = db.session.scalar(select(Facility).where(Facility.code == CODE.format(1)))
    assert lamp.state == "intact" and lamp.grid.code.startswith("GS-DG")
    [change] = db.session.scalars(select(FacilityStateChange)).all()
    assert (change.from_state, change.to_state, change.reason) == ("damaged", "intact", "import")
    assert count(db) == 3


def test_export_then_import_changes_nothing(db, reference):
    run(db, collection(*GOOD))
    for export, fmt in ((facility_io.export_geojson, "geojson"), (facility_io.export_csv, "csv")):
        text = "".join(export(db.session))
        report = run(db, text.encode(), fmt)
        assert (report.new, report.updated, report.unchanged) == (0, 0, 3), (fmt, report)
    exported = json.loads("".join(facility_io.export_geojson(db.session)))
    assert len(exported["features"]) == 3
    assert exported["features"][0]["properties"]["grid"] == "GS-MS-01"


def test_csv_with_lon_lat_or_wkt(db, reference):
    data = (
        "code,type,lon,lat,wkt,name\n"
        f"{CODE.format(7)},{LAMP},120.1400,30.2650,,东口路灯\n"
        f',{ROAD},,,"LINESTRING (120.16 30.28, 120.17 30.28)",路段\n'
        f",{LAMP},30.2650,120.1450,,\n"
        f",{LAMP},,,POLYGON ((,\n"
    ).encode()
    report = run(db, data, "csv")
    assert {r.row: r.reason for r in report.refused} == {3: "swapped", 4: "geometry"}
    report = run(db, data, "csv", skip_bad=True)
    assert report.new == 2 and count(db) == 2


def test_csv_without_coordinates_is_refused_as_a_file(db, reference):
    with pytest.raises(facility_io.FileError):
        run(db, b"code,type\n1,0129\n", "csv")
    with pytest.raises(facility_io.FileError):
        run(db, b'{"type": "FeatureCollection", "features": [', "geojson")


def test_gcj02_is_converted_to_wgs84(db, reference):
    # The published pair of wandergis/coordTransform's README: WGS-84 (116.404, 39.915)
    # is GCJ-02 (116.41024449916938, 39.91640428150164).
    back = facility_io._from_gcj02(
        {"type": "Point", "coordinates": [116.41024449916938, 39.91640428150164]}
    )
    assert back["coordinates"] == pytest.approx([116.404, 39.915], abs=2e-6)
    # A lamp surveyed on a GCJ-02 map (about 500 m off in Hangzhou) lands where it stands.
    gcj_lat, gcj_lng = eviltransform.wgs2gcj(30.2700, 120.1500)
    assert abs(gcj_lng - 120.1500) > 0.004
    report = run(db, collection(feature(gcj_lng, gcj_lat)), crs="gcj02")
    assert report.new == 1
    lamp = db.session.scalar(select(Facility))
    assert (lamp.lat, lamp.lng) == pytest.approx((30.2700, 120.1500), abs=2e-6)


def test_cli_dry_run_prints_reasons_and_counts(db, reference, runner, tmp_path):
    path = tmp_path / "survey.geojson"
    path.write_bytes(collection(GOOD[0], *BAD))
    result = runner.invoke(args=["facilities", "import", str(path), "--dry-run", "--lang", "en"])
    assert result.exit_code == 1
    assert "Row 6 refused: latitude and longitude are swapped" in result.output
    assert "Row 4 refused: outside the district" in result.output
    assert "1 new, 0 updated, 0 unchanged, 5 refused." in result.output
    result = runner.invoke(args=["facilities", "import", str(path)])
    assert "未作任何更改" in result.output and count(db) == 0
    result = runner.invoke(args=["facilities", "import", str(path), "--skip-bad"])
    assert result.exit_code == 0 and count(db) == 1
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["facilities", "export", "--format", "csv", "-o", str(out)])
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert [r["code"] for r in rows] == [CODE.format(1)]


def test_a_large_file_is_streamed(db, reference, tmp_path):
    """20,000 features (about 22 MB) are read with the memory of a batch, not of the file."""
    path = tmp_path / "big.geojson"
    with path.open("w") as out:
        out.write('{"type": "FeatureCollection", "features": [')
        for n in range(20_000):
            lng, lat = 120.131 + (n % 200) * 0.00024, 30.261 + (n // 200) * 0.00028
            out.write(("," if n else "") + json.dumps(feature(lng, lat, note="x" * 1000)))
        out.write("]}")
    size = path.stat().st_size
    tracemalloc.start()
    with path.open("rb") as stream:
        report = facility_io.import_file(db.session, stream, "geojson")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    db.session.commit()
    assert report.new == 20_000 and count(db) == 20_000
    # A whole-file json.load would hold several times the file; streaming holds a batch.
    assert size > 20_000_000 and peak < size / 3, (peak, size)
