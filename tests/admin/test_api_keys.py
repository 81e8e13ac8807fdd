"""Admins see the API keys and revoke them; the revoked key stops working."""

from sqlalchemy import select

from portal.models import ApiKey, AuditEntry, utcnow
from portal.services import apikeys


def test_admin_lists_and_revokes_a_key(client, db, login_as):
    _row, key = apikeys.create(db.session, "FixMyStreet", utcnow())
    db.session.commit()
    login_as("admin")
    page = client.get("/admin/api-keys").get_data(as_text=True)
    assert "FixMyStreet" in page and key[:8] in page and key not in page
    row = db.session.scalar(select(ApiKey))
    page_html = client.get("/admin/api-keys").get_data(as_text=True)
    token = page_html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        f"/admin/api-keys/{row.id}/revoke", data={"csrf_token": token, "confirm": "1"}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(ApiKey, row.id).revoked_at is not None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "apikey.revoke"))
    assert entry.object_id == str(row.id) and entry.after["name"] == "FixMyStreet"
    assert apikeys.verify(db.session, key) is None
    refused = client.post("/open311/v2/requests.json", data={"api_key": key})
    assert refused.status_code == 403


def test_only_admins_see_the_keys(client, db, login_as):
    login_as("dispatcher")
    assert client.get("/admin/api-keys").status_code == 403


def test_admin_lets_a_key_mail_its_reporters_and_stops_it(client, db, login_as):
    row, _key = apikeys.create(db.session, "FixMyStreet", utcnow())
    db.session.commit()
    assert row.mail_reporters is False  # the other system informs its own users by default
    login_as("admin")
    page = client.get("/admin/api-keys").get_data(as_text=True)
    assert "改由平台邮件通知" in page and "不发送：由该系统自行通知其用户" in page
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    for allow, expected in (("1", True), ("0", False)):
        response = client.post(
            f"/admin/api-keys/{row.id}/mail", data={"csrf_token": token, "allow": allow}
        )
        assert response.status_code == 303
        db.session.expire_all()
        assert db.session.get(ApiKey, row.id).mail_reporters is expected
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "apikey.mail_reporters")
    ).all()
    assert [e.after["mail_reporters"] for e in entries] == [True, False]
    # Anything but 0 or 1 changes nothing.
    client.post(f"/admin/api-keys/{row.id}/mail", data={"csrf_token": token, "allow": "yes"})
    db.session.expire_all()
    assert db.session.get(ApiKey, row.id).mail_reporters is False
