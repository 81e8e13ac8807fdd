"""FixMyStreet as an Open311 client of the portal: its users' comments come in through
POST servicerequestupdates (with the exact fields its Open311.pm sends), and what happened to
each case goes out through GET servicerequestupdates in the extended statuses it reads."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from jsonschema import Draft4Validator, FormatChecker
from sqlalchemy import func, select

from portal.models import (
    ApiKey,
    AuditEntry,
    Case,
    CaseEvent,
    Department,
    OutboxMessage,
    utcnow,
)
from portal.services import apikeys, cases, open311_updates, workflow
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo, make_case, make_user
from tests.open311.conftest import BASE, errors_in, json_of, xml_of

REPORT = {
    "service_code": "0402",
    "lat": "30.2741",
    "long": "120.1551",
    "description": "人行道上的井盖碎了一角，晚上看不清很危险。",
    "attribute[cover_type]": "sewage",
    "attribute[lane]": "pavement",
    "first_name": "Wei",
    "last_name": "Wang",
    "email": "wang.private@example.cn",
    "account_id": "fms-user-4711",
}
# What FixMyStreet's _populate_service_request_update_params sends for a comment (its
# cobrands add title, email_alerts_requested, public_anonymity_required and the like).
COMMENT = {
    "status": "OPEN",
    "description": "Still broken <b>today</b> & getting worse.",
    "first_name": "Jo",
    "last_name": "Bloggs",
    "email": "jo.bloggs@example.org",
    "phone": "+44 20 7946 0000",
    "updated_datetime": "2026-11-29T10:15:00Z",
    "public_anonymity_required": "FALSE",
    "email_alerts_requested": "FALSE",
    "title": "Ms",
}
# The answer's shape, as FixMyStreet reads it: request_update[0].update_id, a string.
ANSWER = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "required": ["update_id"],
        "properties": {"update_id": {"type": "string", "pattern": "^[0-9]+$"}},
    },
}
FEED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": [
            "update_id",
            "service_request_id",
            "status",
            "external_status_code",
            "updated_datetime",
            "description",
        ],
        "properties": {
            "update_id": {"type": "string"},
            "service_request_id": {"type": "string"},
            "status": {
                "enum": list(open311_updates.EXTENDED.values())
                + list(open311_updates.REJECTED.values())
            },
            "external_status_code": {"type": "string"},
            "updated_datetime": {"type": "string", "format": "date-time"},
            "description": {"type": "string"},
            "media_url": {"type": ["string", "null"], "format": "uri"},
            "duplicate_of": {"type": "string"},
        },
    },
}


@pytest.fixture
def fms(client, db, api_key):
    """Return FixMyStreet's key and a case it posted, routed to the road unit's handler."""
    answer = client.post(f"{BASE}/requests.json", data={**REPORT, "api_key": api_key})
    assert answer.status_code == 201
    number = json_of(answer)[0]["service_request_id"]
    case = db.session.scalar(select(Case).where(Case.number == number))
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    handler = make_user(db.session, role="handler", department=road)
    staff = make_user(db.session, role="dispatcher")
    workflow.accept(db.session, case, staff, "normal", utcnow())
    workflow.route(db.session, case, staff, road, utcnow())
    db.session.commit()
    return {"key": api_key, "case": case, "handler": handler, "staff": staff}


def send(client, key: str, number: str, update_id: str | None, fmt: str = "xml", **fields):
    """Post a comment as FixMyStreet does: form-encoded, every value a string."""
    data = {**COMMENT, "api_key": key, "service_request_id": number, **fields}
    if update_id is not None:
        data["update_id"] = update_id
    return client.post(f"{BASE}/servicerequestupdates.{fmt}", data=data)


def update_id_of(response, fmt: str) -> str:
    """Read our update_id from the answer as FixMyStreet does, after checking its shape."""
    if fmt == "xml":
        root = xml_of(response)
        assert root.tag == "service_request_updates"
        assert [child.tag for child in root] == ["request_update"]
        return root.find("request_update").findtext("update_id")
    body = json_of(response)
    Draft4Validator(ANSWER).validate(body)
    return body[0]["update_id"]


def comments(db, case: Case) -> list[CaseEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "comment")
        )
    )


def window() -> dict[str, str]:
    now = utcnow()
    return {
        "start_date": (now - timedelta(hours=1)).isoformat(),
        "end_date": (now + timedelta(hours=1)).isoformat(),
    }


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_comment_is_stored_once_shown_as_plain_text_and_the_handler_told(client, db, fms, fmt):
    case, key = fms["case"], fms["key"]
    first = send(client, key, case.number, "9001", fmt)
    assert first.status_code == 201
    ours = update_id_of(first, fmt)
    again = send(client, key, case.number, "9001", fmt)
    assert again.status_code == 200 and update_id_of(again, fmt) == ours

    [comment] = comments(db, case)
    assert str(comment.id) == ours and comment.external_id == "9001"
    assert comment.public and comment.body == COMMENT["description"]
    assert comment.data["status"] == "open"
    assert case.state == "dispatched"  # OPEN on an open case asks for nothing

    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "Still broken &lt;b&gt;today&lt;/b&gt; &amp; getting worse." in page
    for private in ("jo.bloggs@example.org", "Bloggs", "7946", "wang.private@example.cn"):
        assert private not in page

    feed = client.get(f"{BASE}/servicerequestupdates.json", query_string=window())
    listed = json_of(feed)
    Draft4Validator(FEED, format_checker=FormatChecker()).validate(listed)
    assert listed and all(u["update_id"] != ours for u in listed)  # FixMyStreet has it
    assert "jo.bloggs" not in feed.get_data(as_text=True)
    notes = json_of(client.get(f"{BASE}/requests/{case.number}.json?extensions=true"))[0]
    assert COMMENT["description"] in [n["description"] for n in notes["notes"]]

    told = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "staff.comment")
    ).all()
    assert [m.recipient for m in told] == [fms["handler"].email]  # once, though posted twice
    assert COMMENT["description"] in told[0].body
    # The reporter hears from FixMyStreet, not from us.
    assert not db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.recipient == "wang.private@example.cn")
    )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-11-29T10:15:00Z", "2026-11-29T10:15:00+00:00"),
        ("2026-11-29T18:15:00+08:00", "2026-11-29T10:15:00+00:00"),
        ("2026-11-29T18:15:00", "2026-11-29T10:15:00+00:00"),  # the office's zone
        ("yesterday", None),
        ("0001-01-01T00:00:00+08:00", None),
    ],
)
def test_every_way_fixmystreet_writes_a_moment_is_taken(client, db, fms, sent, stored):
    response = send(client, fms["key"], fms["case"].number, "77", updated_datetime=sent)
    assert response.status_code == 201
    [comment] = comments(db, fms["case"])
    assert comment.data.get("updated_datetime") == stored


def test_updates_from_the_same_id_on_two_keys_are_two_comments(client, db, fms):
    _row, other = apikeys.create(db.session, "Another system", utcnow())
    db.session.commit()
    one = update_id_of(send(client, fms["key"], fms["case"].number, "5"), "xml")
    two = update_id_of(send(client, other, fms["case"].number, "5"), "xml")
    assert one != two and len(comments(db, fms["case"])) == 2


def test_a_parallel_post_of_the_same_update_is_answered_with_the_stored_one(
    client, db, fms, monkeypatch
):
    first = update_id_of(send(client, fms["key"], fms["case"].number, "42"), "xml")
    looked = []
    real = open311_updates._already

    def blind_once(session, key, update_id):
        # The other post commits between our look and our insert: the look finds nothing.
        looked.append(update_id)
        return None if len(looked) == 1 else real(session, key, update_id)

    monkeypatch.setattr(open311_updates, "_already", blind_once)
    again = send(client, fms["key"], fms["case"].number, "42")
    assert again.status_code == 200 and update_id_of(again, "xml") == first
    assert len(looked) == 2 and len(comments(db, fms["case"])) == 1
    # The session is still usable: the next update goes in.
    assert send(client, fms["key"], fms["case"].number, "43").status_code == 201


def test_without_update_id_each_post_is_a_comment(client, db, fms):
    for _ in range(2):
        assert send(client, fms["key"], fms["case"].number, None).status_code == 201
    assert len(comments(db, fms["case"])) == 2


def test_what_the_sender_can_fix_is_refused_and_nothing_else(client, db, fms):
    number = fms["case"].number
    wrong_key = send(client, "not-a-key", number, "1")
    assert wrong_key.status_code == 403 and errors_in(wrong_key, "xml")[0][0] == 403
    unknown = send(client, fms["key"], "2026-999999", "1", "json")
    assert unknown.status_code == 404 and errors_in(unknown, "json")[0][0] == 404
    missing = send(client, fms["key"], "", "1")
    assert missing.status_code == 400
    assert errors_in(missing, "xml")[0][1].startswith("service_request_id")
    too_long = send(client, fms["key"], number, "9" * 256)
    assert too_long.status_code == 400
    assert comments(db, fms["case"]) == []
    # What FixMyStreet's user wrote is never a reason: markup, control characters (dropped:
    # nobody sees them), an unknown status, no text.
    for n, fields in enumerate(
        [
            {"description": "<script>alert(1)</script>\x07\x1b"},
            {"status": "INTERNAL_REFERRAL"},
            {"description": ""},
            {"status": "", "updated_datetime": ""},
        ]
    ):
        assert send(client, fms["key"], number, f"ok-{n}", **fields).status_code == 201
    bodies = [c.body for c in comments(db, fms["case"])]
    assert "<script>alert(1)</script>" in bodies and "" in bodies


def test_a_hidden_case_is_unknown_to_other_systems(client, db, fms):
    _row, other = apikeys.create(db.session, "Another system", utcnow())
    fms["case"].hidden = True
    db.session.commit()
    assert send(client, other, fms["case"].number, "1").status_code == 404
    # The system that posted it may still comment on its own case.
    assert send(client, fms["key"], fms["case"].number, "1").status_code == 201


def _resolve(db, fms, app) -> Case:
    case = fms["case"]
    store = PhotoStore(app.config["UPLOAD_DIR"])
    workflow.start(db.session, case, fms["handler"], utcnow())
    workflow.resolve(db.session, case, fms["handler"], "已更换。", [jpeg_photo()], store, utcnow())
    db.session.commit()
    return case


@pytest.mark.parametrize("status", ["OPEN", "REOPEN"])
def test_not_fixed_on_a_closed_case_reopens_it_by_the_residents_rules(app, client, db, fms, status):
    case = _resolve(db, fms, app)
    workflow.close(db.session, case, fms["staff"], "核查合格。", utcnow())
    db.session.commit()
    response = send(client, fms["key"], case.number, "300", "json", status=status)
    assert response.status_code == 201
    db.session.expire_all()
    assert case.state == "dispatched" and case.reopen_count == 1 and case.closed_at is None
    kinds = [e.kind for e in case.events][-2:]
    assert kinds == ["comment", "reopened"]
    assert case.events[-2].data["reopened"] is True
    assert case.resolve_due_at > utcnow()  # a new deadline, as for the resident
    feed = json_of(client.get(f"{BASE}/servicerequestupdates.json", query_string=window()))
    last = [u for u in feed if u["service_request_id"] == case.number][-1]
    assert (last["status"], last["external_status_code"]) == ("action_scheduled", "dispatched")

    # Once only, as for the resident: the next "not fixed" stays a comment, and succeeds.
    workflow.start(db.session, case, fms["handler"], utcnow())
    workflow.resolve(db.session, case, fms["handler"], "再次处理。", [], None, utcnow())
    workflow.close(db.session, case, fms["staff"], "复核合格。", utcnow())
    db.session.commit()
    again = send(client, fms["key"], case.number, "301", status=status)
    assert again.status_code == 201
    db.session.expire_all()
    assert case.state == "closed" and case.events[-1].data["reopened"] is False


def test_not_fixed_on_a_resolved_case_sends_it_back_as_on_the_private_page(app, client, db, fms):
    case = _resolve(db, fms, app)
    response = send(client, fms["key"], case.number, "400", status="OPEN")
    assert response.status_code == 201
    db.session.expire_all()
    # The resident may say "not fixed" as soon as the case is 已处置, once, by either door.
    assert case.state == "dispatched" and case.reopen_count == 1 and case.cycle == 2
    assert [e.kind for e in case.events[-2:]] == ["comment", "reopened"]
    assert case.events[-2].data["reopened"] is True
    assert case.events[-1].body == case.events[-2].body  # the comment is the reason
    assert cases.can_reopen(case, utcnow()) is False


def test_not_fixed_after_the_reopening_window_is_a_comment(app, client, db, fms):
    case = _resolve(db, fms, app)
    workflow.close(db.session, case, fms["staff"], "核查合格。", utcnow() - timedelta(days=8))
    db.session.commit()
    assert send(client, fms["key"], case.number, "500", status="OPEN").status_code == 201
    db.session.expire_all()
    assert case.state == "closed" and case.events[-1].data["reopened"] is False


def test_another_system_cannot_reopen_a_case_it_did_not_post(app, client, db, fms):
    case = _resolve(db, fms, app)
    workflow.close(db.session, case, fms["staff"], "核查合格。", utcnow())
    _row, other = apikeys.create(db.session, "Another system", utcnow())
    db.session.commit()
    assert send(client, other, case.number, "600", status="OPEN").status_code == 201
    db.session.expire_all()
    assert case.state == "closed" and case.events[-1].kind == "comment"


def test_every_state_has_its_status_on_the_feed(app, client, db, reference, login_as):
    staff = make_user(db.session, role="dispatcher")
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    handler = make_user(db.session, role="handler", department=road)
    store = PhotoStore(app.config["UPLOAD_DIR"])
    made = {}

    def new(name: str) -> Case:
        made[name] = make_case(db.session, category_code="0402", description=f"{name} 井盖坏了。")[
            0
        ]
        return made[name]

    new("submitted")
    workflow.accept(db.session, new("accepted"), staff, "normal", utcnow())
    for name in ("dispatched", "in_progress", "resolved", "closed"):
        case = new(name)
        workflow.accept(db.session, case, staff, "normal", utcnow())
        workflow.route(db.session, case, staff, road, utcnow())
        if name != "dispatched":
            workflow.start(db.session, case, handler, utcnow())
        if name in ("resolved", "closed"):
            workflow.resolve(db.session, case, handler, "已处理。", [jpeg_photo()], store, utcnow())
        if name == "closed":
            workflow.close(db.session, case, staff, "核查合格。", utcnow())
    workflow.reject(db.session, new("invalid"), staff, "重复提交的测试。", utcnow())
    workflow.merge(db.session, new("duplicate"), staff, made["accepted"], utcnow())
    db.session.commit()
    # The ground of a rejection is chosen on the back office's form.
    login_as("dispatcher")
    case = new("not_responsible")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert 'name="ground"' in page
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    done = client.post(
        f"/admin/cases/{case.number}/reject",
        data={
            "csrf_token": token,
            "version": case.version_id,
            "body": "属于燃气公司管辖。",
            "ground": "not_responsible",
        },
    )
    assert done.status_code == 303

    expected = {
        "submitted": ("open", "submitted"),
        "accepted": ("investigating", "accepted"),
        "dispatched": ("action_scheduled", "dispatched"),
        "in_progress": ("in_progress", "in_progress"),
        "resolved": ("fixed", "resolved"),
        "closed": ("closed", "closed"),
        "invalid": ("no_further_action", "rejected"),
        "not_responsible": ("not_councils_responsibility", "rejected"),
        "duplicate": ("duplicate", "duplicate"),
    }
    feed = client.get(f"{BASE}/servicerequestupdates.json", query_string=window())
    listed = json_of(feed)
    Draft4Validator(FEED, format_checker=FormatChecker()).validate(listed)
    last = {u["service_request_id"]: u for u in listed}
    for name, case in made.items():
        got = last[case.number]
        assert (got["status"], got["external_status_code"]) == expected[name], name
    assert last[made["duplicate"].number]["duplicate_of"] == made["accepted"].number
    assert all("duplicate_of" not in u for u in listed if u["status"] != "duplicate")

    xml = xml_of(client.get(f"{BASE}/servicerequestupdates.xml", query_string=window()))
    assert xml.tag == "service_request_updates"
    in_xml = {u.findtext("service_request_id"): u for u in xml.findall("request_update")}
    duplicate = in_xml[made["duplicate"].number]
    assert duplicate.findtext("status") == "duplicate"
    assert duplicate.findtext("duplicate_of") == made["accepted"].number
    assert in_xml[made["resolved"].number].findtext("external_status_code") == "resolved"

    # requests keeps the core spec's two statuses.
    listed = json_of(client.get(f"{BASE}/requests.json"))
    assert {r["status"] for r in listed} == {"open", "closed"}


def test_a_duplicate_never_names_a_case_hidden_since(client, db, reference):
    staff = make_user(db.session, role="dispatcher")
    kept = make_case(db.session, category_code="0402")[0]
    gone = make_case(db.session, category_code="0402")[0]
    workflow.merge(db.session, gone, staff, kept, utcnow())
    kept.hidden = True
    db.session.commit()
    listed = json_of(client.get(f"{BASE}/servicerequestupdates.json", query_string=window()))
    mine = [u for u in listed if u["service_request_id"] == gone.number]
    assert mine[-1]["status"] == "duplicate" and "duplicate_of" not in mine[-1]


def test_the_reporter_of_a_key_is_mailed_only_when_the_key_allows_it(client, db, fms):
    case, staff = fms["case"], fms["staff"]
    reporter = "wang.private@example.cn"

    def mails() -> int:
        return db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient == reporter)
        )

    assert mails() == 0  # neither "received", "accepted" nor "dispatched"
    workflow.reply(db.session, case, staff, "已安排人员。", utcnow())
    db.session.commit()
    assert mails() == 0
    # A follower who asked on the portal itself is still told.
    follower = make_case(db.session, category_code="0402", email="own@example.cn")[0]
    workflow.reply(db.session, follower, staff, "收到。", utcnow())
    db.session.commit()
    assert db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.recipient == "own@example.cn")
    )

    key = db.session.scalar(select(ApiKey).where(ApiKey.name == "FixMyStreet"))
    apikeys.set_mail_reporters(db.session, staff, key, True, utcnow())
    workflow.reply(db.session, case, staff, "明天更换。", utcnow())
    db.session.commit()
    assert mails() == 1
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "apikey.mail_reporters")
    )
    assert entry.before["mail_reporters"] is False and entry.after["mail_reporters"] is True


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_account_id_is_kept_and_echoed_to_its_sender_only(client, db, api_key, fmt):
    answer = client.post(f"{BASE}/requests.{fmt}", data={**REPORT, "api_key": api_key})
    assert answer.status_code == 201
    if fmt == "xml":
        request = xml_of(answer).find("request")
        number, echoed = request.findtext("service_request_id"), request.findtext("account_id")
    else:
        number, echoed = json_of(answer)[0]["service_request_id"], json_of(answer)[0]["account_id"]
    assert echoed == "fms-user-4711"
    case = db.session.scalar(select(Case).where(Case.number == number))
    assert case.account_id == "fms-user-4711"

    own = json_of(client.get(f"{BASE}/requests/{number}.json", query_string={"api_key": api_key}))
    assert own[0]["account_id"] == "fms-user-4711"
    listed = json_of(client.get(f"{BASE}/requests.json", query_string={"api_key": api_key}))
    assert [r["account_id"] for r in listed if r["service_request_id"] == number] == [
        "fms-user-4711"
    ]
    # An identifier of a person in another system is not for the public, nor other systems.
    _row, other = apikeys.create(db.session, "Another system", utcnow())
    db.session.commit()
    for query in ({}, {"api_key": other}):
        seen = client.get(f"{BASE}/requests/{number}.json", query_string=query)
        assert json_of(seen)[0]["account_id"] is None
        assert "fms-user-4711" not in seen.get_data(as_text=True)


def test_a_wrong_account_id_is_refused_and_nothing_is_opened(client, db, api_key):
    for wrong in ("a" * 256, "id\x01"):
        refused = client.post(
            f"{BASE}/requests.json", data={**REPORT, "api_key": api_key, "account_id": wrong}
        )
        assert refused.status_code == 400
        assert errors_in(refused, "json")[0][1].startswith("account_id")
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_staff_see_which_system_a_comment_came_through(client, db, fms, auth):
    send(client, fms["key"], fms["case"].number, "800")
    auth.login(fms["staff"])
    page = client.get(f"/admin/cases/{fms['case'].number}").get_data(as_text=True)
    assert "FixMyStreet" in page and COMMENT["description"].split("<")[0] in page
    assert "jo.bloggs@example.org" not in page


def test_the_same_update_posted_in_parallel_is_stored_once(app, db, fms):
    """FixMyStreet retries while its first post is still being answered: one comment, one id."""
    number, key = fms["case"].number, fms["key"]
    start = threading.Barrier(6)
    answers: list[tuple[int, str]] = []

    def post_one() -> None:
        client = app.test_client()
        start.wait()
        response = send(client, key, number, "race-1", "json")
        answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=post_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in answers) == [200] * 5 + [201], answers
    assert len({body for _, body in answers}) == 1
    assert len(comments(db, fms["case"])) == 1
