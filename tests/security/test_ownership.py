"""Objects that belong to someone else: another department's case, another supervisor's draft,
another resident's private link, another commenter's status page; and reporters' contacts,
which no public page or API shows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.models import Case, Inspection, utcnow
from portal.services import workflow
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo
from tests.security.test_role_matrix import PUBLIC, QUERY, ROUTES
from tests.security.world import REPORTER, World, concrete, fingerprint, new_client


@pytest.fixture
def app_config():
    """Switch CSRF off: these tests are about whose object it is, not about tokens."""
    return {"WTF_CSRF_ENABLED": False}


def close(app, db, world: World, case: Case) -> None:
    """Take a case through resolving and closing, as its department and a dispatcher do."""
    store = PhotoStore(app.config["UPLOAD_DIR"])
    handler = world.users["handler" if case.id == world.case.id else "other_handler"]
    workflow.resolve(db.session, case, handler, "已修复", [jpeg_photo("green")], store, utcnow())
    workflow.close(db.session, case, world.users["dispatcher"], "核实已修复", utcnow())
    db.session.commit()


# A handler of another department


def test_another_departments_case_is_closed_to_a_handler(app, db, world: World):
    client = new_client(app, world.users["other_handler"])
    number = world.case.number
    assert client.get(f"/admin/cases/{number}").status_code == 403
    before = fingerprint(db)
    for action in workflow.FROM_STATES:
        response = client.post(
            f"/admin/cases/{number}/{action}",
            data={
                "version": world.case.version_id,
                "body": "越权操作",
                "priority": "urgent",
                "department": "LIGHT",
                "category": "0101",
                "target": world.other_case.number,
            },
        )
        assert response.status_code == 403, action
    assert fingerprint(db) == before


def test_a_handlers_queue_and_exports_hold_only_their_department(app, db, world: World):
    client = new_client(app, world.users["other_handler"])
    mine, theirs = world.other_case.number, world.case.number
    for path in ("/admin/?state=", "/admin/export/cases.csv?state=", "/admin/export/cases.geojson"):
        body = client.get(path).get_data(as_text=True)
        assert mine in body and theirs not in body, path
    xlsx = client.get("/admin/export/cases.xlsx?state=")
    assert xlsx.status_code == 200 and len(xlsx.get_data()) > 1000
    xlsx.close()
    # Searching for the other case by its number finds nothing either.
    found = client.get(f"/admin/?state=&q={theirs}").get_data(as_text=True)
    assert f"/admin/cases/{theirs}" not in found


def test_back_office_pages_never_show_contacts_to_a_handler_who_does_not_work_the_case(
    app, db, world: World
):
    client = new_client(app, world.users["other_handler"])
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "GET" not in rule.methods:
            continue
        response = client.get(concrete(rule, world), query_string={"state": ""})
        body = response.get_data()
        response.close()
        for secret in (REPORTER["phone"], REPORTER["email"]):
            assert secret.encode() not in body, rule.rule


# Another supervisor's draft and findings


def test_another_supervisors_draft_stays_theirs(app, db, world: World):
    client = new_client(app, world.users["other_supervisor"])
    code = world.project.code
    page = client.get(f"/supervisor/inspect/{code}?report={world.draft_id}")
    assert page.status_code == 200
    assert world.draft_note not in page.get_data(as_text=True)
    assert 'value="key-draft"' not in page.get_data(as_text=True)
    before = fingerprint(db)
    # Posting to their draft's form key (as if it had been stolen) is refused.
    response = client.post(
        f"/supervisor/inspect/{code}",
        data={
            "client_key": "key-draft",
            "lat": "30.2741",
            "lng": "120.1551",
            "item-dust": "pass",
            "action": "submit",
        },
    )
    assert response.status_code == 422
    assert fingerprint(db) == before
    draft = db.session.get(Inspection, world.draft_id)
    assert draft.status == "draft" and draft.items["dust"]["note"] == world.draft_note
    # Their report and the finding it made are not found for anyone else.
    assert client.get(f"/supervisor/inspections/{world.report_id}").status_code == 404
    assert client.get(f"/supervisor/cases/{world.finding.number}").status_code == 404
    response = client.post(
        f"/supervisor/cases/{world.finding.number}",
        data={"version": world.finding.version_id, "body": "冒名核查", "action": "close"},
    )
    assert response.status_code == 404
    assert fingerprint(db) == before


def test_the_owner_sees_their_own_draft(app, db, world: World):
    client = new_client(app, world.users["supervisor"])
    page = client.get(f"/supervisor/inspect/{world.project.code}?report={world.draft_id}")
    assert world.draft_note in page.get_data(as_text=True)
    assert client.get(f"/supervisor/inspections/{world.report_id}").status_code == 200


# Another resident's private link


def test_a_tracking_token_opens_its_own_case_only(app, db, world: World):
    client = new_client(app)
    page = client.get(f"/track/{world.token}").get_data(as_text=True)
    assert world.case.number in page and world.other_case.number not in page
    other = client.get(f"/track/{world.other_token}").get_data(as_text=True)
    assert world.other_case.number in other and world.case.number not in other
    # Neither the stored hash, nor the case number, nor a changed letter opens anything.
    flipped = world.token[:-1] + ("A" if world.token[-1] != "A" else "B")
    for guess in (world.case.tracking_token_hash, world.case.number, flipped, world.token + "x"):
        assert client.get(f"/track/{guess}").status_code == 404, guess


def test_a_tracking_token_acts_on_its_own_case_only(app, db, world: World):
    close(app, db, world, world.case)
    close(app, db, world, world.other_case)
    client = new_client(app)
    other_before = fingerprint(db)["cases"]
    response = client.post(
        f"/track/{world.token}/rate", data={"rating": "dissatisfied", "comment": "没修好"}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert world.case.rating == "dissatisfied" and world.case.state == "dispatched"
    assert world.other_case.rating is None and world.other_case.state == "closed"
    assert fingerprint(db)["cases"] != other_before
    # The reporter of the other case can still rate it: nothing was spent on it.
    response = client.post(f"/track/{world.other_token}/rate", data={"rating": "satisfied"})
    assert response.status_code == 303
    db.session.expire_all()
    assert world.other_case.rating == "satisfied"


# Another commenter's status link, another resident's suggestion


def test_a_comment_link_shows_that_comment_only(app, db, world: World):
    client = new_client(app)
    mine = client.get(f"/consultations/comment/{world.comment_token}").get_data(as_text=True)
    theirs = client.get(f"/consultations/comment/{world.other_comment_token}").get_data(
        as_text=True
    )
    assert "施工时段请避开早高峰" in mine and "别人的意见" not in mine
    assert "别人的意见" in theirs and "施工时段请避开早高峰" not in theirs
    # The page right after sending shows the link only to the browser that sent it.
    with client.session_transaction() as session:
        session["comment_tokens"] = [[world.comment_id, world.comment_token]]
    sent = client.get(f"/consultations/comments/{world.comment_id}/sent")
    assert world.comment_token in sent.get_data(as_text=True)
    response = client.get(f"/consultations/comments/{world.other_comment_id}/sent")
    assert response.status_code == 302
    assert world.other_comment_token not in response.get_data(as_text=True)


def test_a_suggestion_link_shows_that_suggestion_only(app, db, world: World):
    client = new_client(app)
    mine = client.get(f"/suggestions/track/{world.suggestion_token}").get_data(as_text=True)
    assert "教场路夜里太暗" in mine and "别人的内容" not in mine
    with client.session_transaction() as session:
        session["suggestion_tokens"] = [[world.suggestion_id, world.suggestion_token]]
    response = client.get(f"/suggestions/{world.other_suggestion_id}/sent")
    assert response.status_code == 302
    assert world.other_suggestion_token not in response.get_data(as_text=True)
    # A comment's token is not a suggestion's, and the other way round.
    assert client.get(f"/suggestions/track/{world.comment_token}").status_code == 404
    assert client.get(f"/consultations/comment/{world.suggestion_token}").status_code == 404


# Contacts on public pages and APIs


def test_public_pages_and_apis_never_show_a_reporters_contacts(app, db, world: World):
    client = new_client(app)
    extra = {
        "open311.requests_list": {"extensions": "true"},
        "open311.request_one": {"extensions": "true"},
        "open311.updates": {"extensions": "true"},
    }
    seen = 0
    for rule in app.url_map.iter_rules():
        if ROUTES[rule.endpoint] is not PUBLIC or "GET" not in rule.methods:
            continue
        query = QUERY.get(rule.endpoint, {}) | extra.get(rule.endpoint, {})
        response = client.get(concrete(rule, world), query_string=query)
        body = response.get_data()
        response.close()
        for secret in REPORTER.values():  # the name too: the reporter chose to hide it
            assert secret.encode() not in body, rule.rule
        if response.is_json:
            json.dumps(response.json)  # JSON answers are JSON
        seen += response.status_code == 200
    assert seen >= 30
    # The reporter's own page does not spell their phone or e-mail out either.
    own = client.get(f"/track/{world.token}").get_data(as_text=True)
    assert REPORTER["phone"] not in own and REPORTER["email"] not in own
    assert (
        db.session.scalar(select(Case.reporter_phone).where(Case.id == world.case.id))
        == (REPORTER["phone"])
    )
