"""The foundation: settings, migrations, health, language, errors, CLI, access."""

import warnings

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import SAWarning

from portal import create_app
from portal.config import ConfigError, Settings
from portal.models import ApiKey, Base, User, utcnow
from portal.models.sensors import include_name
from portal.services import two_factor

# SQLite's indexes on an expression (the queues' `next_due_at IS NULL`) cannot be read back:
# SQLAlchemy skips them with a warning, so they are compared on PostgreSQL only. The FTS5
# tables (made by the search migration on SQLite only) have no model.
EXPRESSION_INDEXES = {
    "ix_cases_queue",
    "ix_cases_state_queue",
    "ix_cases_department_queue",
    "ix_cases_todo_queue",
}
# The search terms' GIN indexes and the running clocks' deadline index exist on PostgreSQL
# only (declared with ddl_if).
POSTGRESQL_ONLY = {
    "ix_case_search_public_terms",
    "ix_case_search_staff_terms",
    "ix_case_search_head_terms",
    "ix_cases_running_due",  # 即将超期's window (portal/models/case.py)
}
# 待办's partial index exists on SQLite only (PostgreSQL took it for 待核查 and read it all).
SQLITE_ONLY = {"ix_cases_todo_queue"}


def _other_database(sqlite: bool, type_: str, name: str | None) -> bool:
    """Tell whether an index exists on the other database only (or cannot be read back)."""
    if type_ != "index":
        return False
    if sqlite:
        return name in EXPRESSION_INDEXES | POSTGRESQL_ONLY
    return name in SQLITE_ONLY


def test_models_and_migrations_agree(app, db):
    sqlite = db.engine.dialect.name == "sqlite"

    def included(name, type_, parent_names):
        if _other_database(sqlite, type_, name):
            return False
        if type_ == "table" and (name or "").startswith("case_search_fts"):
            return False  # SQLite's FTS5 index of case_search and its shadow tables
        return include_name(name, type_, parent_names)

    with warnings.catch_warnings(), db.engine.connect() as connection:
        if sqlite:
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified")

        def kept(obj, name, type_, reflected, compare_to):  # the model's side, as above
            return not _other_database(sqlite, type_, name)

        opts = {"compare_type": True, "include_name": included, "include_object": kept}
        context = MigrationContext.configure(connection, opts=opts)
        assert compare_metadata(context, Base.metadata) == []


def test_production_refuses_to_start_without_a_secret(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings({"PORTAL_ENV": "production"}).load(str(tmp_path))


def test_local_secret_is_generated_once(tmp_path):
    first = Settings({}).load(str(tmp_path))["SECRET_KEY"]
    again = Settings({}).load(str(tmp_path))["SECRET_KEY"]
    assert first == again and len(first) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_settings_read_the_environment(tmp_path):
    config = Settings(
        {
            "DATABASE_URL": "postgresql+psycopg://x@y/z",
            "MAX_PHOTOS": "3",
            "SECRET_KEY": "s",
            "PORTAL_ENV": "production",
        }
    ).load(str(tmp_path))
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://x@y/z"
    assert config["MAX_PHOTOS"] == 3
    assert config["SESSION_COOKIE_SECURE"] is True


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["database"] == "ok"


def test_healthz_reports_an_unreachable_database(tmp_path):
    broken = create_app(
        {
            "SECRET_KEY": "x",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/no/such/dir/db",
        }
    )
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503


def test_language_switch_and_accept_language(client):
    assert '<html lang="zh-Hans-CN">' in client.get("/").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.8"
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    response = client.get("/lang/zh_Hans_CN?next=/cases")
    assert response.status_code == 302 and response.headers["Location"] == "/cases"
    assert '<html lang="zh-Hans-CN">' in client.get("/").get_data(as_text=True)
    assert client.get("/lang/en?next=//evil.example").headers["Location"] == "/"


def test_errors_answer_in_the_clients_format(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "<html" in page.get_data(as_text=True)
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == 404


def test_security_headers(client):
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_back_office_is_closed_to_anonymous_and_supervisors(client, login_as):
    anonymous = client.get("/admin/")
    assert anonymous.status_code == 302 and "/login?next=" in anonymous.headers["Location"]
    login_as("supervisor")
    assert client.get("/admin/").status_code == 403
    for role in ("handler", "dispatcher", "admin"):
        login_as(role)
        assert client.get("/admin/").status_code == 200


def test_a_disabled_account_is_signed_out(client, login_as):
    login_as("dispatcher", active=False)
    assert client.get("/admin/").status_code == 302


def test_apikey_create_prints_the_key_last(runner, db):
    from portal.services import apikeys

    result = runner.invoke(args=["apikey", "create", "FixMyStreet"])
    assert result.exit_code == 0
    key = result.output.strip().splitlines()[-1]
    row = apikeys.verify(db.session, key)
    assert isinstance(row, ApiKey) and row.name == "FixMyStreet"
    assert row.key_hash != key
    assert apikeys.verify(db.session, key + "x") is None
    assert runner.invoke(args=["apikey", "create", " "]).exit_code != 0


def test_demo_load_is_idempotent(runner, db, app, tmp_path):
    app.instance_path = str(tmp_path)  # not the developer's instance/
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "loaded" in first.output
    assert "dispatcher@demo.example.cn" in first.output
    accounts = tmp_path / "demo-accounts.txt"
    assert accounts.stat().st_mode & 0o777 == 0o600  # passwords: the owner only
    lines = [line.split("\t") for line in accounts.read_text().splitlines()]
    role, email, password, seed = lines[1]
    assert (role, email) == ("dispatcher", "dispatcher@demo.example.cn")
    assert password in first.output and seed in first.output
    # The seed is the account's: the code an app computes from it is accepted.
    user = db.session.scalar(select(User).where(User.email == email))
    assert two_factor.check(db.session, user, pyotp.TOTP(seed).now(), utcnow()) == "totp"
    assert {r: s != "" for r, _, _, s in lines} == {
        "admin": True,
        "dispatcher": True,
        "supervisor": False,
        "handler": False,
    }
    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0 and "nothing loaded" in second.output


def test_production_never_gets_demo_data(runner, app):
    app.config["PORTAL_ENV"] = "production"
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "never" in result.output


def test_behind_a_trusted_proxy_the_client_address_is_used(tmp_path):
    app = create_app(
        {
            "SECRET_KEY": "x",
            "TESTING": True,
            "TRUSTED_PROXIES": 1,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db",
        }
    )

    @app.route("/whoami")
    def whoami() -> str:
        from flask import request

        return request.remote_addr or ""

    answer = app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.get_data(as_text=True) == "203.0.113.9"
