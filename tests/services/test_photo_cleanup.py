"""The orphan sweep: files without a row go after the grace period, nothing else does."""

import os
import time

from portal.services import photo_cleanup
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo, make_case


def _age(path, seconds):
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_sweep_removes_old_orphans_only(app, db, reference, tmp_path):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    case, _token = make_case(db.session, store, photos=1)
    db.session.commit()
    kept = case.photos[0].sha256
    orphan, young = jpeg_photo("purple"), jpeg_photo("navy")
    store.write(orphan)
    store.write(young)
    crashed = store.path(orphan.sha256).parent / "tmpcrash.part"
    crashed.write_bytes(b"half a photo")
    stranger = store.root / "README"
    stranger.write_text("not ours")
    for path in [store.path(kept), store.path(orphan.sha256), crashed]:
        _age(path, 7200)
    _age(store.path(orphan.sha256, "thumb"), 7200)

    dry = photo_cleanup.sweep(db.session, store, dry_run=True)
    assert len(dry.orphans) == 3 and store.path(orphan.sha256).exists()

    result = photo_cleanup.sweep(db.session, store)
    assert sorted(result.orphans) == sorted(
        [
            store.key(orphan.sha256),
            store.key(orphan.sha256, "thumb"),
            crashed.relative_to(store.root).as_posix(),
        ]
    )
    assert result.recent == 2 and result.missing == [] and result.referenced == 1
    assert store.exists(kept) and store.exists(young.sha256) and stranger.exists()
    assert not store.path(orphan.sha256).exists() and not crashed.exists()


def test_a_reused_file_is_young_again(app, db, reference):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    photo = jpeg_photo("teal")
    store.write(photo)
    _age(store.path(photo.sha256), 7200)
    _age(store.path(photo.sha256, "thumb"), 7200)
    store.write(photo)  # a new upload of the same photo, its row not yet committed
    assert photo_cleanup.sweep(db.session, store).orphans == []
    assert store.exists(photo.sha256)


def test_cleanup_command_reports_missing_files(runner, app, db, reference):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    case, _token = make_case(db.session, store, photos=1)
    db.session.commit()
    orphan = jpeg_photo("olive")
    store.write(orphan)
    ran = runner.invoke(args=["photos", "cleanup", "--grace", "0"])
    assert ran.exit_code == 0, ran.output
    assert "2 orphan files deleted" in ran.output and not store.path(orphan.sha256).exists()
    store.path(case.photos[0].sha256).unlink()
    ran = runner.invoke(args=["photos", "cleanup", "--dry-run"])
    assert ran.exit_code == 1 and f"missing: {case.photos[0].sha256}" in ran.output
