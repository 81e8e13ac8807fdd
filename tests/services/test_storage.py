"""Object storage on both backends: a folder, and a real S3 server (SeaweedFS, started by the
`seaweedfs` fixture). The photo module's promises hold on each: written before the commit,
no orphan after a failed commit, content-hash keys, private photos stay private."""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.models import Case, PendingPhoto, Photo, User
from portal.services import photo_cleanup, storage
from portal.services.photos import PhotoStore, save_for_session
from tests.conftest import make_app
from tests.factories import jpeg_bytes, jpeg_photo, make_case, make_user
from tests.portal.test_report import form_data


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    """Return each backend in turn: a folder, then a fresh bucket on the S3 server."""
    if request.param == "local":
        yield storage.LocalStore(tmp_path / "store")
        return
    found = storage.from_url(request.getfixturevalue("s3_url"))
    found.check()
    yield found
    found.close()


def test_put_claim_delete_list_on_both_backends(backend, tmp_path):
    token, new = backend.put("ab/one.jpg", b"first")
    assert new and backend.get("ab/one.jpg") == b"first"
    again, new = backend.put("ab/one.jpg", b"first")
    assert not new and again != token  # claimed: a new token
    assert not backend.delete_if("ab/one.jpg", token)  # claimed since: kept
    assert backend.head("ab/one.jpg").size == 5
    assert [o.key for o in backend.list()] == ["ab/one.jpg"]
    backend.download("ab/one.jpg", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"first"
    assert backend.delete_if("ab/one.jpg", again)
    assert backend.head("ab/one.jpg") is None and backend.claim("ab/one.jpg") is None
    with pytest.raises(FileNotFoundError):
        backend.get("ab/one.jpg")
    with pytest.raises(ValueError):
        backend.put("../etc/passwd", b"x")


def test_storage_urls():
    assert isinstance(storage.from_url("/srv/uploads"), storage.LocalStore)
    assert storage.from_url("file:///srv/uploads").root.as_posix() == "/srv/uploads"
    s3 = storage.from_url("s3://photos?endpoint=http://127.0.0.1:9&prefix=city/")
    assert s3.bucket == "photos" and s3.prefix == "city/" and not s3.is_local
    for bad in ("s3://?endpoint=http://x", "ftp://x/y", "s3://b?secret=1"):
        with pytest.raises(storage.StorageConfigError):
            storage.from_url(bad)


def test_commit_keeps_and_a_failed_commit_leaves_no_orphan(app, db, backend, reference):
    store = PhotoStore(backend)
    kept = jpeg_photo("navy")
    save_for_session(db.session, store, kept)
    db.session.commit()
    assert store.exists(kept.sha256)  # written before the commit, kept by it

    make_user(db.session, "dispatcher", email="same@example.cn")
    db.session.commit()
    dropped = jpeg_photo("olive")
    save_for_session(db.session, store, dropped)
    assert store.exists(dropped.sha256)  # on the store before any row points at it
    db.session.add(User(email="same@example.cn", name="twin", role="dispatcher"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert not store.exists(dropped.sha256)  # the failed commit took its objects along
    assert store.exists(kept.sha256)  # an object it did not create is left alone


def test_a_crash_before_the_commit_leaves_an_object_the_sweep_removes(app, db, backend, reference):
    store = PhotoStore(backend)
    case, _token = make_case(db.session, store, photos=1)
    db.session.commit()
    crashed = jpeg_photo("purple")
    store.write(crashed)  # the process died before its row was committed
    young = photo_cleanup.sweep(db.session, store)
    assert young.orphans == [] and young.recent == 2 and young.missing == []
    result = photo_cleanup.sweep(db.session, store, grace=-5)
    assert sorted(result.orphans) == [store.key(crashed.sha256), store.key(crashed.sha256, "thumb")]
    assert not store.exists(crashed.sha256) and store.exists(case.photos[0].sha256)
    backend.delete(store.key(case.photos[0].sha256, "thumb"))
    assert photo_cleanup.sweep(db.session, store).missing == [case.photos[0].sha256]


@pytest.fixture
def s3_app(migrated, tmp_path, s3_url):
    """Return a portal whose photos are on the S3 server."""
    from portal.extensions import db as _db
    from tests.conftest import empty_tables

    application = make_app(migrated, tmp_path / "no-uploads", STORAGE_URL=s3_url)
    with application.app_context():
        storage.for_app(application).check()
        yield application
        storage.for_app(application).close()
        _db.session.rollback()
        empty_tables()
        _db.session.remove()
        _db.engine.dispose()


def test_photos_on_s3_keep_their_access_rules(s3_app, s3_url, seaweedfs):
    from portal.extensions import db as _db
    from portal.services import demo

    demo.load_reference(_db.session)
    store = PhotoStore(storage.for_app(s3_app))
    shown, _ = make_case(_db.session, store, photos=1)
    hidden, _ = make_case(_db.session, store, photos=2, position=(30.28, 120.17))
    hidden.hidden = True
    _db.session.commit()
    assert not Path(s3_app.config["UPLOAD_DIR"]).exists()  # nothing on local disk
    client = s3_app.test_client()
    public_sha = shown.photos[0].sha256
    served = client.get(f"/photos/{public_sha}.jpg")
    assert served.status_code == 200 and served.data == store.backend.get(store.key(public_sha))
    assert "immutable" in served.headers["Cache-Control"]
    private_sha = hidden.photos[1].sha256  # the first is the same red photo as the shown one
    assert store.exists(private_sha) and client.get(f"/photos/{private_sha}.jpg").status_code == 404
    # The bucket is not public: nothing is read from the store without a signed link.
    bucket = s3_url.split("?")[0].removeprefix("s3://")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{seaweedfs.endpoint}/{bucket}/{store.key(public_sha)}")  # noqa: S310
    assert refused.value.code == 403
    refused.value.close()

    s3_app.config["STORAGE_SERVE"] = "redirect"
    moved = client.get(f"/photos/{public_sha}.thumb.jpg")
    assert moved.status_code == 302 and "X-Amz-Signature" in moved.headers["Location"]
    with urllib.request.urlopen(moved.headers["Location"]) as direct:  # noqa: S310
        assert direct.read() == store.backend.get(store.key(public_sha, "thumb"))
        assert "immutable" in direct.headers["Cache-Control"]
    assert client.get(f"/photos/{private_sha}.jpg").status_code == 404  # checked first


def test_a_report_through_the_app_lands_on_s3(s3_app):
    from portal.extensions import db as _db
    from portal.services import demo

    demo.load_reference(_db.session)
    _db.session.commit()
    s3_app.config["WTF_CSRF_ENABLED"] = False
    client = s3_app.test_client()
    data = form_data(_db, photos=[(io.BytesIO(jpeg_bytes(800, 600)), "IMG_1.jpg")])
    sent = client.post("/report/new", data=data, content_type="multipart/form-data")
    assert sent.status_code == 303
    photo = _db.session.scalars(select(Photo)).one()
    keys = {o.key for o in storage.for_app(s3_app).list()}
    assert keys == {PhotoStore.key(photo.sha256), PhotoStore.key(photo.sha256, "thumb")}


def test_an_unreachable_store_answers_503_with_the_form_kept(migrated, tmp_path):
    from portal.extensions import db as _db
    from portal.services import demo
    from tests.conftest import empty_tables
    from tests.object_store import free_port_pair

    down = f"s3://photos?endpoint=http://127.0.0.1:{free_port_pair()}"
    application = make_app(migrated, tmp_path / "x", STORAGE_URL=down, STORAGE_TIMEOUT=0.5)
    application.config["WTF_CSRF_ENABLED"] = False
    with application.app_context():
        try:
            demo.load_reference(_db.session)
            _db.session.commit()
            client = application.test_client()
            data = form_data(_db, photos=[(io.BytesIO(jpeg_bytes(400, 300)), "IMG_2.jpg")])
            sent = client.post("/report/new", data=data, content_type="multipart/form-data")
            page = sent.get_data(as_text=True)
            assert sent.status_code == 503 and sent.headers["Retry-After"]
            assert "人行道上的井盖松动了" in page and "湖墅南路128号附近" in page
            assert re.search(r'name="phone"[^>]*value="13800000000"', page) or "13800000000" in page
            for model in (Case, Photo, PendingPhoto):
                assert _db.session.scalar(select(func.count()).select_from(model)) == 0
        finally:
            storage.for_app(application).close()
            _db.session.rollback()
            empty_tables()
            _db.session.remove()
            _db.engine.dispose()


def test_migrate_to_s3_is_resumable_and_verified(app, db, reference, runner, s3_url):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    make_case(db.session, store, photos=3)
    db.session.commit()
    keys = sorted(o.key for o in store.backend.list())
    assert len(keys) == 6
    target = storage.from_url(s3_url)
    target.check()
    # An earlier run stopped after two objects, one of them cut short.
    target.put(keys[0], store.backend.get(keys[0]))
    target.put(keys[1], b"half")
    ran = runner.invoke(args=["storage", "migrate", "--to", s3_url])
    assert ran.exit_code == 0, ran.output
    assert "5 objects copied and verified, 1 already there" in ran.output
    assert all(target.get(k) == store.backend.get(k) for k in keys)
    again = runner.invoke(args=["storage", "migrate", "--to", s3_url])
    assert "0 objects copied and verified, 6 already there" in again.output
    refused = runner.invoke(args=["storage", "migrate", "--to", "ftp://nowhere"])
    assert refused.exit_code == 2 and "unknown scheme" in refused.output
    target.close()


def test_backup_and_restore_cover_the_s3_store(s3_app, tmp_path, s3_url):
    from portal.extensions import db as _db
    from portal.services import demo

    demo.load_reference(_db.session)
    store = PhotoStore(storage.for_app(s3_app))
    make_case(_db.session, store, photos=2)
    _db.session.commit()
    originals = {o.key: store.backend.get(o.key) for o in store.backend.list()}
    runner = s3_app.test_cli_runner()
    made = runner.invoke(args=["backup", "create", str(tmp_path / "b.tar")])
    assert made.exit_code == 0, made.output
    assert "2 photos, 5 files" in made.output and "store:backups/b.tar" in made.output
    for key in originals:
        store.backend.delete(key)  # the store lost its photos
    restored = runner.invoke(args=["backup", "restore", "--force", "store:backups/b.tar"])
    assert restored.exit_code == 0, restored.output
    assert "4 photo files copied" in restored.output
    assert {k: store.backend.get(k) for k in originals} == originals
    missing = runner.invoke(args=["backup", "restore", "store:backups/nope.tar"])
    assert missing.exit_code == 2 and "The store holds no archive" in missing.output
