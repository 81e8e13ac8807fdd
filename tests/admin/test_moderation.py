"""Moderating a case in the back office: who may, what each role sees, undo by an admin."""

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Department, Moderation, utcnow
from portal.services import cases
from portal.services.photos import PhotoStore
from tests.factories import category
from tests.services.test_moderation import detailed_photo

SECRET = "13800138000"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def case(app, db, reference):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    report = cases.Report(
        category=category(db.session),
        lat=30.27,
        lng=120.15,
        description=f"邻居电话{SECRET}，占道。",
    )
    found, _ = cases.submit(db.session, report, [detailed_photo()], store, utcnow())
    found.department = road
    db.session.commit()
    return found


def redact(client, case, **data):
    data = {"target": "description", "pieces": SECRET, "reason": "邻居隐私", **data}
    return client.post(f"/admin/cases/{case.number}/moderation/redact", data=data)


def test_the_case_page_suggests_what_to_redact(client, login_as, case):
    login_as("dispatcher")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert 'id="moderation"' in page and f"<code>{SECRET}</code>" in page
    assert "隐去文字" in page


def test_a_dispatcher_redacts_and_sees_the_original_a_handler_does_not(client, db, login_as, case):
    login_as("dispatcher")
    assert redact(client, case).status_code == 303
    db.session.refresh(case)
    assert SECRET not in case.description and case.moderated
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert "原文（仅工作人员可见）" in page and SECRET in page
    login_as("handler", department=case.department)
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert SECRET not in page and "文字已隐去" in page
    assert redact(client, case, pieces="占道").status_code == 403


def test_a_refused_redaction_changes_nothing_and_says_why(client, db, login_as, case):
    login_as("dispatcher")
    answer = redact(client, case, pieces="不存在的文字", reason="测试的原因")
    assert answer.status_code == 422  # the case page again, the form as it was typed
    page = answer.get_data(as_text=True)
    assert "每段须与原文完全一致" in page
    assert ">不存在的文字</textarea>" in page and 'value="测试的原因"' in page
    assert redact(client, case, reason="").status_code == 422
    assert redact(client, case, target="99999999999999999999").status_code == 422
    assert redact(client, case, target="garbage").status_code == 422
    db.session.refresh(case)
    assert SECRET in case.description and db.session.scalar(select(Moderation.id)) is None


def test_blur_and_hide_a_photo_then_admin_undoes(client, db, login_as, case):
    photo = case.photos[0]
    original = photo.sha256
    login_as("dispatcher")
    base = f"/admin/cases/{case.number}/moderation/photos/{photo.id}"
    box = {"left": "10", "top": "10", "width": "50", "height": "50", "reason": "车牌"}
    assert client.post(base + "/blur", data=box).status_code == 303
    bad = {**box, "left": "90", "width": "50"}
    assert client.post(base + "/blur", data=bad).status_code == 422
    assert client.post(base + "/blur", data={**box, "left": "abc"}).status_code == 422
    assert client.post(base + "/hide", data={"reason": "人脸"}).status_code == 303
    too_big = f"/admin/cases/{case.number}/moderation/photos/2147483648/hide"
    assert client.post(too_big, data={"reason": "x"}).status_code == 404
    db.session.refresh(photo)
    assert photo.hidden and photo.sha256 != original
    blur = db.session.scalar(select(Moderation).where(Moderation.kind == "blur_photo"))
    # Staff see the photo although the public does not; the original is for moderators.
    shown = client.get(f"/admin/cases/{case.number}/photos/{photo.id}.thumb.jpg")
    shown.close()
    assert shown.status_code == 200
    original_file = client.get(f"/admin/moderations/{blur.id}/original.jpg")
    original_file.close()
    assert original_file.status_code == 200
    assert db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "download", AuditEntry.object_type == "photo_original"
        )
    )
    assert client.post(f"/admin/moderations/{blur.id}/undo").status_code == 403
    login_as("admin")
    assert client.post(f"/admin/moderations/{blur.id}/undo").status_code == 303
    db.session.refresh(photo)
    assert photo.sha256 == original
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert "撤销" in page


def test_hide_the_whole_case(client, db, login_as, case):
    login_as("dispatcher")
    answer = client.post(f"/admin/cases/{case.number}/moderation/hide", data={"reason": "隐私"})
    assert answer.status_code == 303
    db.session.refresh(case)
    assert case.hidden
    assert client.get(f"/cases/{case.number}").status_code == 404


@pytest.mark.parametrize("role", ["handler", "supervisor"])
def test_originals_are_refused_to_other_roles(client, db, login_as, case, role):
    login_as(role, department=case.department if role == "handler" else None)
    assert client.get("/admin/moderations/1/original.jpg").status_code == 403


def test_a_handler_sees_no_empty_moderation_heading(client, db, login_as, reference):
    from tests.factories import make_case

    plain, _ = make_case(db.session, description="路面有个坑。")
    plain.department = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    db.session.commit()
    login_as("handler", department=plain.department)
    page = client.get(f"/admin/cases/{plain.number}").get_data(as_text=True)
    assert 'id="moderation"' not in page  # nothing hidden and nothing this role may do
