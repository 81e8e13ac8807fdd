"""The sensor pages: devices with live status, a device's chart data, registration and CSV
import, the alarm queue and an alarm's steps into a case, rules, and the map layers."""

import io
import re
from datetime import timedelta

from sqlalchemy import select

from portal.models import Alarm, Case, DetectionRule, Device, utcnow
from portal.services import alarms, readings
from tests.factories import make_device, make_project

BOX = "120.13,30.26,120.18,30.29"


def csrf(client, url):
    page = client.get(url).get_data(as_text=True)
    return page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def breach(db, device, metric="tilt", value=40.0):
    now = utcnow()
    rows = [{"device_id": device.id, "ts": now, "metric": metric, "value": value}]
    new = readings.store(db.session, rows, readings.Outcome(), {device.id: device.kind})
    alarms.evaluate_stored(db.session, new, now)
    db.session.commit()
    return db.session.scalar(select(Alarm).where(Alarm.device_id == device.id))


def test_device_list_shows_status_last_value_and_bad_readings(client, db, login_as):
    device, _ = make_device(db.session, "water_depth", name="文一路下穿")
    device.last_value, device.last_seen_at, device.bad_count = 12.5, utcnow(), 3
    db.session.commit()
    login_as("handler")
    page = client.get("/admin/devices").get_data(as_text=True)
    assert "文一路下穿" in page and "12.5 cm" in page and "在线" in page
    assert client.get("/admin/devices?kind=noise").get_data(as_text=True).count("文一路下穿") == 0
    assert client.get("/admin/devices?kind=volcano&status=9999").status_code == 200
    assert client.get("/admin/devices?kind=%00").status_code == 400  # NUL: refused app-wide
    assert client.get(f"/admin/devices/{device.id}").status_code == 200
    assert client.get("/admin/devices/99999999999999").status_code == 404


def test_series_json_raw_then_hourly_beyond_two_days(client, db, login_as):
    device, _ = make_device(db.session, "noise")
    now = utcnow()
    rows = [
        {"device_id": device.id, "ts": now - timedelta(minutes=i), "metric": "noise", "value": 50.0}
        for i in range(30)
    ]
    readings.store(db.session, rows, readings.Outcome(), {device.id: "noise"})
    db.session.commit()
    login_as("dispatcher")
    hour = client.get(f"/admin/devices/{device.id}/series.json?range=1h").get_json()
    assert hour["kind"] == "raw" and len(hour["points"]) == 30 and hour["unit"] == "dB(A)"
    year = client.get(f"/admin/devices/{device.id}/series.json?range=1y").get_json()
    assert year["kind"] == "hourly" and sum(1 for p in year["points"]) in (1, 2)
    odd = client.get(f"/admin/devices/{device.id}/series.json?range=x&metric=../../")
    assert odd.status_code == 200 and odd.get_json()["metric"] == "noise"
    assert client.get(f"/admin/devices/{device.id}/series.json?alarm=999999").status_code == 404


def test_admin_registers_a_device_and_sees_its_key_once(client, db, login_as):
    project = make_project(db.session, code="P-77")
    login_as("admin")
    token = csrf(client, "/admin/devices/new")
    response = client.post(
        "/admin/devices/new",
        data={"csrf_token": token, "code": "NZ-001", "kind": "noise", "project_code": "P-77"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "sensors/NZ-001/readings" in page
    device = db.session.scalar(select(Device).where(Device.code == "NZ-001"))
    assert device.project_id == project.id and device.key_hash and device.key_hash not in page
    again = client.post(
        "/admin/devices/new",
        data={"csrf_token": token, "code": "NZ-001", "kind": "noise", "project_code": "P-77"},
    )
    assert "已有" in again.get_data(as_text=True) or "exists" in again.get_data(as_text=True)
    nowhere = client.post(
        "/admin/devices/new",
        data={"csrf_token": token, "code": "NZ-002", "kind": "noise", "project_code": "NOPE"},
    )
    assert nowhere.status_code == 200
    assert db.session.scalar(select(Device).where(Device.code == "NZ-002")) is None


def test_csv_import_is_all_or_nothing(client, db, login_as):
    make_project(db.session, code="P-88")
    login_as("admin")
    token = csrf(client, "/admin/devices/new")
    bad = "code,kind,project_code\nW1,water_depth,P-88\nW2,volcano,P-88\n"
    client.post(
        "/admin/devices/import",
        data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "d.csv")},
        content_type="multipart/form-data",
    )
    assert db.session.scalar(select(Device).where(Device.code == "W1")) is None
    good = (
        "code,kind,name,project_code,lat,lng\n"
        "W1,water_depth,一号,P-88,30.27,120.15\nW2,noise,,P-88,,\n"
    )
    response = client.post(
        "/admin/devices/import",
        data={"csrf_token": token, "file": (io.BytesIO(good.encode()), "d.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "sensors/W2/readings" in response.get_data(as_text=True)
    assert {d.code for d in db.session.scalars(select(Device))} == {"W1", "W2"}


def test_dispatchers_cannot_register_devices(client, db, login_as):
    login_as("dispatcher")
    assert client.get("/admin/devices/new").status_code == 403
    assert client.post("/admin/devices/import").status_code in (400, 403)


def test_the_description_typed_before_verifying_is_kept_to_open_the_case(client, db, login_as):
    device, _ = make_device(db.session, "cover_tilt")
    alarm = breach(db, device)
    login_as("dispatcher")
    url = f"/admin/alarms/{alarm.id}"
    token = csrf(client, url)
    text = "井盖倾斜约40度，已视频核实"
    verified = client.post(url, data={"csrf_token": token, "action": "verify", "text": text})
    assert verified.status_code == 303
    # The page after the step offers the text again: 立案 without typing it twice.
    page = client.get(url).get_data(as_text=True)
    assert f"{text}</textarea>" in page
    response = client.post(url, data={"csrf_token": token, "action": "case", "text": text})
    db.session.expire_all()
    case = db.session.scalar(select(Case).where(Case.source == "sensor"))
    assert case.description == text and response.location.endswith(case.number)
    # A later step without a note leaves nothing to carry over.
    other = breach(db, make_device(db.session, "cover_tilt")[0])
    client.post(f"/admin/alarms/{other.id}", data={"csrf_token": token, "action": "acknowledge"})
    page = client.get(f"/admin/alarms/{other.id}").get_data(as_text=True)
    assert re.search(r'name="text" rows="3">\s*</textarea>', page)


def test_an_alarm_is_verified_into_a_case_with_its_chart(client, db, login_as):
    device, _ = make_device(db.session, "cover_tilt")
    alarm = breach(db, device)
    login_as("dispatcher")
    queue = client.get("/admin/alarms").get_data(as_text=True)
    assert alarm.summary in queue
    token = csrf(client, f"/admin/alarms/{alarm.id}")
    url = f"/admin/alarms/{alarm.id}"
    early = client.post(url, data={"csrf_token": token, "action": "case", "text": "井盖倾斜"})
    assert early.status_code == 422  # refused: not verified; the description typed is kept
    assert "井盖倾斜</textarea>" in early.get_data(as_text=True)
    assert db.session.get(Alarm, alarm.id).state == "raised"
    client.post(url, data={"csrf_token": token, "action": "verify"})
    response = client.post(url, data={"csrf_token": token, "action": "case", "text": "井盖倾斜"})
    assert response.status_code == 303
    db.session.expire_all()
    case = db.session.scalar(select(Case).where(Case.source == "sensor"))
    assert case.description == "井盖倾斜" and response.location.endswith(case.number)
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert "data-sensor-chart" in page and f"alarm={alarm.id}" in page
    # No one reported it: the public page does not ask a reporter for a query code.
    public = client.get(f"/cases/{case.number}")
    assert public.status_code == 200 and "用查询码打开" not in public.get_data(as_text=True)
    data = client.get(f"/admin/devices/{device.id}/series.json?metric=tilt&alarm={alarm.id}")
    assert data.get_json()["points"][0][1] == 40.0 and len(data.get_json()["alarms"]) == 1


def test_a_rate_alarm_is_titled_per_minute_and_drawn_on_the_readings_line(client, db, login_as):
    device, _ = make_device(db.session, "water_depth")
    now = utcnow().replace(microsecond=0)
    rows = [
        {"device_id": device.id, "ts": now - timedelta(minutes=1), "metric": "depth",
         "value": 2.0},
        {"device_id": device.id, "ts": now, "metric": "depth", "value": 9.0},
    ]  # fmt: skip
    new = readings.store(db.session, rows, readings.Outcome(), {device.id: device.kind})
    alarms.evaluate_stored(db.session, new, now)
    db.session.commit()
    [rising] = db.session.scalars(select(Alarm).where(Alarm.device_id == device.id)).all()
    assert rising.rule.code == "water_rising" and "+7.0cm/分钟" in rising.summary
    login_as("dispatcher")
    data = client.get(f"/admin/devices/{device.id}/series.json?metric=depth").get_json()
    [mark] = data["alarms"]
    assert mark[1] == 9.0  # on the depth line, not at "7 cm"
    for odd in ("99999999999999999999", "-1", "x"):  # no such alarm: 404, not an overflow
        url = f"/admin/devices/{device.id}/series.json?alarm={odd}"
        assert client.get(url).status_code == 404
    # A cover knocked open is titled without a number (open is a state, not a value).
    cover, _ = make_device(db.session, "cover_tilt")
    opened = breach(db, cover, metric="open", value=1.0)
    assert opened.rule.code == "cover_open" and "1.0" not in opened.summary


def test_a_device_page_states_its_rules_in_words(client, db, login_as):
    gauge, _ = make_device(db.session, "water_depth")
    meter, _ = make_device(db.session, "noise")
    login_as("handler")
    page = client.get(f"/admin/devices/{gauge.id}").get_data(as_text=True)
    assert "达到或超过15cm；持续2分钟；低于12cm才算恢复；正常15分钟后自动解除" in page
    assert "每分钟上涨2cm或更快" in page and '"limit"' not in page
    page = client.get(f"/admin/devices/{meter.id}").get_data(as_text=True)
    assert "夜间（22:00–06:00）55dB(A)" in page and "夜间单次读数超过70dB(A)立即告警" in page
    assert "（夜间" in page and "才算恢复" in page


def test_bulk_dismiss_needs_a_reason(client, db, login_as):
    first, _ = make_device(db.session, "cover_tilt")
    second, _ = make_device(db.session, "cover_tilt")
    a, b = breach(db, first), breach(db, second)
    login_as("dispatcher")
    token = csrf(client, "/admin/alarms")
    assert 'action="/admin/alarms/bulk?kind=cover_tilt"' in client.get(
        "/admin/alarms?kind=cover_tilt"
    ).get_data(as_text=True)  # the form carries the queue's filters
    refused = client.post(
        "/admin/alarms/bulk?kind=cover_tilt",
        data={"csrf_token": token, "action": "dismiss", "alarm": [a.id, b.id]},
    )
    db.session.expire_all()
    assert db.session.get(Alarm, a.id).state == "raised"
    # Refused with the reason asked for, the alarms still ticked and the action kept.
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "请填写判为误报的原因" in page
    for alarm in (a, b):
        assert re.search(rf'name="alarm" value="{alarm.id}" checked', page)
    assert re.search(r'<option selected value="dismiss"|<option value="dismiss" selected', page)
    assert re.search(r'<option value="cover_tilt" selected', page)  # still filtered
    assert page.index('class="flash error"') < page.index('name="alarm"')  # said at the top
    again = client.get("/admin/alarms/bulk?kind=cover_tilt")  # the refusal's address, reopened
    assert again.status_code == 303 and again.location.endswith("/admin/alarms?kind=cover_tilt")
    client.post(
        "/admin/alarms/bulk",
        data={"csrf_token": token, "action": "dismiss", "reason": "维修", "alarm": [a.id, "x"]},
    )
    db.session.expire_all()
    assert db.session.get(Alarm, a.id).state == "dismissed"
    assert db.session.get(Alarm, b.id).state == "raised"
    assert client.get("/admin/alarms?state=dismissed").get_data(as_text=True).count("维修") == 0


def test_admin_edits_a_rule(client, db, login_as):
    rule = db.session.scalar(select(DetectionRule).where(DetectionRule.code == "water_deep"))
    login_as("admin")
    assert "water_deep" in client.get("/admin/detection-rules").get_data(as_text=True)
    url = f"/admin/detection-rules/{rule.id}"
    token = csrf(client, url)
    bad = client.post(url, data={"csrf_token": token, "params": "[1", "active": "y"})
    assert bad.status_code == 200
    client.post(url, data={"csrf_token": token, "params": '{"limit": 20}', "active": "y"})
    db.session.expire_all()
    assert db.session.get(DetectionRule, rule.id).params == {"limit": 20}


def test_map_layers_as_geojson(client, db, login_as):
    device, _ = make_device(db.session, "cover_tilt")
    alarm = breach(db, device)
    login_as("dispatcher")
    devices = client.get(f"/admin/api/map/devices.geojson?bbox={BOX}").get_json()
    [feature] = devices["features"]
    assert feature["properties"]["code"] == device.code
    alarm_layer = client.get(f"/admin/api/map/alarms.geojson?bbox={BOX}").get_json()
    assert [f["properties"]["id"] for f in alarm_layer["features"]] == [alarm.id]
    assert client.get("/admin/api/map/alarms.geojson?bbox=1,2,3").status_code == 400
    assert client.get("/admin/api/map/devices.geojson?bbox=0,0,0,0").get_json()["features"] == []


def test_a_handler_sees_only_the_devices_and_alarms_of_their_department(
    client, db, login_as, reference
):
    from portal.models import Department

    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    other = db.session.scalar(select(Department).where(Department.id != road.id))
    mine, _ = make_device(db.session, "cover_tilt", department_id=road.id)
    theirs, _ = make_device(db.session, "cover_tilt", department_id=other.id)
    alarm = breach(db, mine)
    breach(db, theirs)
    login_as("handler", department=road)
    devices = client.get(f"/admin/api/map/devices.geojson?bbox={BOX}").get_json()
    assert [f["properties"]["code"] for f in devices["features"]] == [mine.code]
    alarm_layer = client.get(f"/admin/api/map/alarms.geojson?bbox={BOX}").get_json()
    assert [f["properties"]["id"] for f in alarm_layer["features"]] == [alarm.id]


def test_the_sensor_pages_are_for_staff(client, db, login_as):
    login_as("supervisor")
    for url in ("/admin/devices", "/admin/alarms", "/admin/api/map/devices.geojson?bbox=" + BOX):
        assert client.get(url).status_code == 403


def test_the_device_list_says_device_name_and_all_states(client, db, login_as):
    make_device(db.session, "water_depth", name="文一路下穿")
    login_as("dispatcher")
    page = client.get("/admin/devices").get_data(as_text=True)
    # Not a person's 姓名, and not the 合计 (total) of a coverage table.
    assert 'data-label="设备名称"' in page and "姓名" not in page
    assert "全部状态" in page and "合计" not in page
    alarms_page = client.get("/admin/alarms").get_data(as_text=True)
    assert "合计" not in alarms_page


def test_the_device_page_names_measurements_and_ranges_in_words(client, db, login_as):
    device, _ = make_device(db.session, "cover_tilt")
    device.bad_count, device.bad_reasons = 2, {"out_of_range": 2}
    db.session.commit()
    login_as("dispatcher")
    page = client.get(f"/admin/devices/{device.id}").get_data(as_text=True)
    assert "<h3>井盖倾斜 (°)</h3>" in page and "<h3>tilt" not in page  # not the metric's code
    assert ">24小时</a>" in page and ">7天</a>" in page
    assert "数值超出范围 2" in page and "out_of_range" not in page


def test_an_alarms_escalation_is_said_in_words(client, db, login_as):
    risen = breach(db, make_device(db.session, "cover_tilt")[0])
    risen.escalation_level = 24  # 24 half hours with nobody acknowledging it
    calm = breach(db, make_device(db.session, "cover_tilt")[0])
    db.session.commit()
    login_as("dispatcher")
    for url in ("/admin/alarms", f"/admin/alarms/{risen.id}"):
        page = client.get(url).get_data(as_text=True)
        assert "已升级 24 次 · 无人受理达 12 小时" in page
        assert 'title="无人受理的告警每 30 分钟升级一次。"' in page
    assert "未升级" in client.get(f"/admin/alarms/{calm.id}").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get(f"/admin/alarms/{risen.id}").get_data(as_text=True)
    assert "Escalated 24 times · 12 hours without acknowledgement" in page
    risen.escalation_level = 3
    db.session.commit()
    page = client.get(f"/admin/alarms/{risen.id}").get_data(as_text=True)
    assert "Escalated 3 times · 1 hour 30 minutes without acknowledgement" in page
    assert "Not escalated" in client.get(f"/admin/alarms/{calm.id}").get_data(as_text=True)
