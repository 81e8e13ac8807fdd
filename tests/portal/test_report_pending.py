"""Photos of a report form survive its errors: kept as pending photos of the form (never
served to anyone else), removable, attached on submit in the same transaction, purged after
a day, and no file is left behind by a failed commit."""

import io
import os
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.models import Case, PendingPhoto, Photo, utcnow
from portal.services import pending_photos, photo_cleanup
from portal.services.photos import PhotoStore
from tests.factories import jpeg_bytes
from tests.portal.test_report import form_data


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def photo(color: str = "orange") -> tuple[io.BytesIO, str]:
    return io.BytesIO(jpeg_bytes(800, 600, color)), f"{color}.jpg"


def post(client, data):
    return client.post("/report/new", data=data, content_type="multipart/form-data")


def form_token(page: str) -> str:
    return re.search(r'name="upload_token" type="hidden" value="([^"]+)"', page).group(1)


def status(client, url: str) -> int:
    with client.get(url) as answer:
        return answer.status_code


def thumbnail_links(page: str) -> list[str]:
    return re.findall(r'src="(/report/photos/[^"]+\.jpg)"', page)


def test_photos_are_kept_across_an_error_and_attached_on_submit(client, db, reference):
    refused = post(client, form_data(db, description="", photos=[photo("red"), photo("blue")]))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "请重新添加" not in page and "照片已保留" in page
    links = thumbnail_links(page)
    assert len(links) == 2 and count(db, PendingPhoto) == 2 and count(db, Case) == 0
    with client.get(links[0]) as served:
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert "no-store" in served.headers["Cache-Control"]
    token = form_token(page)
    accepted = post(client, form_data(db, upload_token=token))  # no file sent again
    assert accepted.status_code == 303
    case = db.session.scalars(select(Case)).one()
    assert len(case.photos) == 2 and [p.position for p in case.photos] == [0, 1]
    assert count(db, PendingPhoto) == 0
    assert status(client, links[0]) == 404  # no longer pending: the case shows it
    assert status(client, f"/photos/{case.photos[0].sha256}.thumb.jpg") == 200


def test_a_kept_photo_can_be_removed_without_script(client, db, reference):
    page = post(client, form_data(db, description="", photos=[photo("red"), photo("blue")]))
    page = page.get_data(as_text=True)
    token = form_token(page)
    ids = re.findall(r'name="remove_photo" value="(\d+)"', page)
    assert len(ids) == 2
    again = post(client, form_data(db, description="", upload_token=token, remove_photo=ids[0]))
    assert len(thumbnail_links(again.get_data(as_text=True))) == 1
    post(client, form_data(db, upload_token=token))
    case = db.session.scalars(select(Case)).one()
    assert len(case.photos) == 1


def test_new_photos_add_to_the_kept_ones_within_the_limit(client, db, reference):
    page = post(client, form_data(db, description="", photos=[photo("red")])).get_data(as_text=True)
    token = form_token(page)
    too_many = [photo(c) for c in ("blue", "green", "gray", "white", "black")]
    refused = post(client, form_data(db, upload_token=token, photos=too_many))
    assert refused.status_code == 422 and "最多" in refused.get_data(as_text=True)
    assert count(db, Case) == 0
    again = post(client, form_data(db, upload_token=token, photos=[photo("blue")]))
    assert again.status_code == 303
    assert len(db.session.scalars(select(Case)).one().photos) == 2


def test_pending_photos_are_never_served_to_another_form(app, client, db, reference):
    page = post(client, form_data(db, description="", photos=[photo("red")])).get_data(as_text=True)
    link = thumbnail_links(page)[0]
    row = db.session.scalars(select(PendingPhoto)).one()
    # Not a public photo, and a forged or foreign link shows nothing.
    assert status(client, f"/photos/{row.sha256}.thumb.jpg") == 404
    assert status(client, link.replace(".jpg", "x.jpg")) == 404
    other = PendingPhoto(
        form_token=pending_photos.new_form_token(), sha256=row.sha256, width=1, height=1
    )
    db.session.add(other)
    db.session.commit()
    with app.test_request_context():
        foreign = pending_photos.link_key(other)
    forged = foreign.split(".")[0] + "." + link.split("/")[-1].split(".", 1)[1][:-4]
    assert status(client, f"/report/photos/{forged}.jpg") == 404
    # Another resident's form (another token) does not get them either.
    stranger = post(client, form_data(db, description="", upload_token="x" * 43))
    assert thumbnail_links(stranger.get_data(as_text=True)) == []
    # Nor does a form that invents no token: it is given a fresh one.
    fresh = post(client, form_data(db, description="", upload_token="../etc"))
    assert form_token(fresh.get_data(as_text=True)) != "../etc"


def test_pending_photos_are_purged_after_a_day(app, client, db, reference):
    page = post(client, form_data(db, description="", photos=[photo("red")])).get_data(as_text=True)
    token = form_token(page)
    row = db.session.scalars(select(PendingPhoto)).one()
    store = PhotoStore(app.config["UPLOAD_DIR"])
    sha = row.sha256
    old = time.time() - 7200
    for variant in ("full", "thumb"):
        os.utime(store.path(sha, variant), (old, old))
    # Younger than a day: kept, and its files too.
    assert photo_cleanup.sweep(db.session, store).purged == 0 and store.exists(sha)
    row.created_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    result = photo_cleanup.sweep(db.session, store)
    assert result.purged == 1 and count(db, PendingPhoto) == 0
    assert not store.path(sha).exists() and not store.path(sha, "thumb").exists()
    later = post(client, form_data(db, upload_token=token))
    assert later.status_code == 303
    assert count(db, Photo) == 0


def test_the_cleanup_command_purges_pending_photos(runner, app, db, reference):
    db.session.add(
        PendingPhoto(
            form_token=pending_photos.new_form_token(),
            sha256="a" * 64,
            width=1,
            height=1,
            created_at=utcnow() - timedelta(days=2),
        )
    )
    db.session.commit()
    result = runner.invoke(args=["photos", "cleanup"])
    assert "1 pending photos purged" in result.output
    assert count(db, PendingPhoto) == 0


def test_a_failed_commit_leaves_no_orphan_file(app, client, db, reference, monkeypatch):
    page = post(client, form_data(db, description="", photos=[photo("red")])).get_data(as_text=True)
    token = form_token(page)
    kept = db.session.scalars(select(PendingPhoto)).one().sha256
    store = PhotoStore(app.config["UPLOAD_DIR"])
    attach = pending_photos.attach

    def attach_then_fail(*args, **kwargs):
        attach(*args, **kwargs)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(pending_photos, "attach", attach_then_fail)
    fresh = io.BytesIO(jpeg_bytes(640, 480, "purple"))
    try:
        answer = post(client, form_data(db, upload_token=token, photos=[(fresh, "p.jpg")]))
        assert answer.status_code == 500
    except RuntimeError:
        pass  # the test app may propagate it; the request's session was rolled back either way
    db.session.expire_all()
    assert count(db, Case) == 0 and count(db, Photo) == 0
    assert count(db, PendingPhoto) == 1 and store.exists(kept)  # still pending for the form
    files = [p for p in store.root.glob("??/*.jpg") if kept not in p.name]
    assert files == []  # the new photo's files went with the rollback
