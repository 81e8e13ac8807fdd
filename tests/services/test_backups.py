"""Backups: made while the portal runs, restored into an empty database, checked table by
table and photo by photo (SQLite always; PostgreSQL when DATABASE_URL points at it)."""

import hashlib
import io
import os
import tarfile

import pytest
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, select, text

from portal.extensions import db as _db
from portal.models import Base, Category, KpiVersion, utcnow
from portal.services import backups, demo, kpi_cache, reference, workflow
from portal.services.photos import PhotoStore
from tests.conftest import make_app
from tests.databases import ensure_database
from tests.factories import make_case, make_user

DATABASE_URL = os.environ.get("DATABASE_URL", "")


def populate(session, store: PhotoStore) -> None:
    """Give the portal cases with photos, a follower, replies and e-mails in the outbox."""
    dispatcher = make_user(session, "dispatcher")
    for n in range(3):
        case, _token = make_case(session, store, photos=n, email=f"r{n}@example.cn")
        workflow.accept(session, case, dispatcher, "high", utcnow())
        workflow.reply(session, case, dispatcher, f"已安排人员现场查看 {n}", utcnow())
    session.commit()


def fingerprint(store: PhotoStore) -> dict[str, str]:
    """Hash every table's rows (but the caches' counters) and every photo file's bytes."""
    found = {}
    moved = {table.name for table, _key, _value in backups.CACHE_VERSIONS}
    with _db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in moved:
                continue  # the caches' counters: a restore moves them on (tested below)
            rows = connection.execute(table.select().order_by(*table.primary_key.columns))
            found[table.name] = hashlib.sha256(repr(rows.all()).encode()).hexdigest()
    for (sha,) in _db.session.execute(text("SELECT sha256 FROM photo ORDER BY id")):
        for variant in ("full", "thumb"):
            found[f"{sha}/{variant}"] = hashlib.sha256(
                store.path(sha, variant).read_bytes()
            ).hexdigest()
    return found


def back_up_and_restore(target_url: str, tmp_path) -> None:
    """Back up the current app's database, restore it into the target, compare both."""
    store = PhotoStore(current_app.config["UPLOAD_DIR"])
    archive = tmp_path / "backup.tar"
    made = current_app.test_cli_runner().invoke(args=["backup", "create", str(archive)])
    assert made.exit_code == 0, made.output
    assert "3 cases, 9 events, 2 photos" in made.output  # the same red photo twice
    before = fingerprint(store)
    assert len([k for k in before if "/" in k]) == 4  # two photos, full and thumbnail each

    target = make_app(target_url, tmp_path / "restored-uploads")
    runner = target.test_cli_runner()
    with target.app_context():
        restored = runner.invoke(args=["backup", "restore", str(archive)])
        assert restored.exit_code == 0, restored.output
        assert fingerprint(PhotoStore(target.config["UPLOAD_DIR"])) == before
        refused = runner.invoke(args=["backup", "restore", str(archive)])
        assert refused.exit_code == 1 and "not empty" in refused.output
        forced = runner.invoke(args=["backup", "restore", "--force", str(archive)])
        assert forced.exit_code == 0, forced.output
        assert fingerprint(PhotoStore(target.config["UPLOAD_DIR"])) == before
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def sqlite_portal(tmp_path):
    """Return a populated portal on its own SQLite file, whatever DATABASE_URL says."""
    app = make_app(f"sqlite:///{tmp_path / 'source.db'}", tmp_path / "uploads")
    with app.app_context():
        upgrade()
        demo.load_reference(_db.session)
        populate(_db.session, PhotoStore(app.config["UPLOAD_DIR"]))
        yield app
        _db.session.remove()
        _db.engine.dispose()


def test_sqlite_backup_restores_the_same_cases_events_and_photos(sqlite_portal, tmp_path):
    back_up_and_restore(f"sqlite:///{tmp_path / 'restored.db'}", tmp_path)


def test_a_damaged_archive_is_refused(sqlite_portal, tmp_path):
    store = PhotoStore(sqlite_portal.config["UPLOAD_DIR"])
    archive, damaged = tmp_path / "backup.tar", tmp_path / "damaged.tar"
    backups.create(_db.engine, store, archive, utcnow())
    with tarfile.open(archive) as source, tarfile.open(damaged, "w") as copy:
        for member in source.getmembers():
            content = source.extractfile(member).read()
            if member.name.startswith("photos/"):
                content = content[:-1] + bytes([content[-1] ^ 1])
            copy.addfile(member, io.BytesIO(content))
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(backups.BackupError, match="damaged"):
        backups.restore(empty, PhotoStore(tmp_path / "restored"), damaged)
    empty.dispose()


@pytest.mark.skipif(
    not DATABASE_URL.startswith("postgresql"), reason="DATABASE_URL is not PostgreSQL"
)
def test_postgresql_backup_restores_into_another_database(app, db, reference, tmp_path):
    populate(db.session, PhotoStore(app.config["UPLOAD_DIR"]))
    url = make_url(DATABASE_URL)
    target_url = url.set(database=f"{url.database}_restore")
    ensure_database(target_url.render_as_string(hide_password=False))
    target = create_engine(target_url)
    with target.begin() as connection:  # an empty database: no tables at all
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    target.dispose()
    back_up_and_restore(target_url.render_as_string(hide_password=False), tmp_path)


def test_a_restore_moves_the_cache_versions_past_what_running_workers_saw(sqlite_portal, tmp_path):
    store = PhotoStore(sqlite_portal.config["UPLOAD_DIR"])
    archive = tmp_path / "backup.tar"
    backups.create(_db.engine, store, archive, utcnow())
    category = _db.session.scalars(select(Category).order_by(Category.id)).first()
    original = category.name_zh
    for n in range(3):  # the live portal goes on: its version climbs past the backup's
        category.name_zh = f"改名{n}"
        _db.session.commit()
    with sqlite_portal.app_context(), sqlite_portal.test_request_context():  # a request
        kept = reference.current(_db.session)  # a worker's copy of the renamed data
        assert kept.categories_by_id[category.id].name_zh == "改名2"
    seen = reference.read_version(_db.session)
    _db.session.remove()

    backups.restore(_db.engine, store, archive, force=True)

    assert reference.read_version(_db.session) > seen
    everywhere = _db.session.get(KpiVersion, kpi_cache.ANY_MONTH)
    assert everywhere is not None and everywhere.version > seen
    with sqlite_portal.app_context(), sqlite_portal.test_request_context():  # a request
        assert reference.current(_db.session).categories_by_id[category.id].name_zh == original
