"""Who gets in where: every route of the URL map, for anonymous and for each role."""

import re

import pytest
from sqlalchemy import select

from portal.models import Department, utcnow
from tests.factories import make_case, make_notice, make_user

# Everything outside /admin and /supervisor is public; /admin is for staff, with settings for
# admins and triage for dispatchers; /supervisor (but for applying) for supervisors.
ADMIN_ONLY = (
    "/admin/users",
    "/admin/departments",
    "/admin/rules",
    "/admin/zones",
    "/admin/facilities",
    "/admin/calendar",
    "/admin/audit",
    "/admin/projects",
    "/admin/contractors",
    "/admin/applications",
    "/admin/supervisors",
    "/admin/lists",
    "/admin/reply-templates",
    "/admin/api-keys",
    "/admin/outbox",
    "/admin/moderations/1/undo",
    "/admin/devices/new",
    "/admin/devices/import",
    "/admin/detection-rules",
)
DISPATCHER_ONLY = (
    "/admin/cases/new",
    "/admin/cases/bulk",
    "/admin/inspections",
    "/admin/checks",
    "/admin/spotchecks",
    "/admin/consultations",
    "/admin/comments",
    "/admin/suggestions",
    "/admin/notices",
    "/admin/reports",
    "/admin/blocklist",
    "/admin/review",
    "/admin/facilities/repeats",
    "/admin/hotspots",
    "/admin/followups",
    "/admin/moderations/1/original.jpg",
)


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def concrete(rule, case_number: str, token: str, department: str, notice_id: int = 1) -> str:
    values = {
        "number": case_number,
        "token": token,
        "code": department,
        "user_id": "1",
        "rule_id": "1",
        "action": "note",
        "sha256": "0" * 64,
        "filename": "css/site.css",
        "report_id": "1",
        "application_id": "1",
        "contractor_id": "1",
        "entry_id": "1",
        "notice_id": str(notice_id),
        "decision": "approve",
        "template_id": "1",
        "key_id": "1",
        "consultation_id": "1",
        "comment_id": "1",
        "suggestion_id": "1",
        "check_id": "1",
        "follow_up_id": "1",
        "photo_id": "1",
        "moderation_id": "1",
        "message_id": "1",
        "device_id": "1",
        "alarm_id": "1",
        "detection_id": "1",
    }
    return re.sub(r"<(?:[a-z]+:)?([a-z_0-9]+)>", lambda m: values.get(m.group(1), "x"), rule.rule)


def expected(path: str, role: str | None, handler_owns: bool) -> str:
    if path.startswith("/supervisor") and path != "/supervisor/apply":
        if role is None:
            return "login"
        return "ok" if role == "supervisor" else "forbidden"
    if not path.startswith("/admin"):
        return "open"
    if role is None:
        return "login"
    if role == "supervisor":
        return "forbidden"
    # Triage pages first: /admin/facilities/repeats is theirs, the rest of /admin/facilities
    # is the admins' register.
    if path.startswith(DISPATCHER_ONLY):
        return "ok" if role in ("dispatcher", "admin") else "forbidden"
    if path.startswith(ADMIN_ONLY):
        return "ok" if role == "admin" else "forbidden"
    if "/admin/cases/" in path and role == "handler" and not handler_owns:
        return "forbidden"
    return "ok"


@pytest.mark.parametrize("role", [None, "supervisor", "handler", "dispatcher", "admin"])
def test_role_matrix_over_the_url_map(app, client, db, login_as, role):
    case, token = make_case(db.session)
    notice = make_notice(db.session, make_user(db.session, "admin"), publish_at=utcnow())
    light = db.session.scalar(select(Department).where(Department.code == "LIGHT"))
    if role:
        login_as(role, department=light if role == "handler" else None)
    # Signing out last, so that every other route is tried signed in.
    signing_out = ("/account/sign-out-everywhere", "/logout")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule in signing_out):
        path = concrete(rule, case.number, token, "ROAD", notice.id)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={})
            response.close()
            verdict = expected(path, role, handler_owns=False)
            where = f"{method} {path} as {role}"
            assert response.status_code != 500, where
            if verdict == "login":
                assert response.status_code == 302 and "/login" in response.headers["Location"], (
                    where
                )
            elif verdict == "forbidden":
                assert response.status_code == 403, where
            elif verdict == "ok":
                assert response.status_code in (200, 302, 303, 400, 404, 422), where


def test_a_handler_sees_only_their_departments_cases(client, db, login_as):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    mine, _ = make_case(db.session)
    mine.department, mine.state = road, "dispatched"
    other, _ = make_case(db.session, position=(30.275, 120.16))
    db.session.commit()
    login_as("handler", department=road)
    queue = client.get("/admin/").get_data(as_text=True)
    assert mine.number in queue and other.number not in queue
    assert client.get(f"/admin/cases/{mine.number}").status_code == 200
    assert client.get(f"/admin/cases/{other.number}").status_code == 403
    assert (
        client.post(
            f"/admin/cases/{other.number}/note", data={"version": other.version_id, "body": "x"}
        ).status_code
        == 403
    )
