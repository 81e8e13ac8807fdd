"""The citizen reporting portal: the application factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from portal.config import Settings, engine_options

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Create and configure the portal application."""
    # Each node's own folder (its secret key file in development, its compressed static
    # files, the SQLite file if any): INSTANCE_PATH, an absolute path; default ./instance.
    instance = os.environ.get("INSTANCE_PATH") or None
    app = Flask(
        __name__, instance_path=instance, instance_relative_config=True, static_folder="../static"
    )
    app.config.from_mapping(Settings().load(app.instance_path))
    app.config.from_mapping(overrides or {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    from portal import accounts, assets, replica, web

    assets.init_app(app)  # inside ProxyFix (web): HSTS on static files needs the real scheme
    web.init_app(app)
    replica.init_app(app)
    accounts.init_app(app)  # after web's guards: hostile input is refused before any redirect
    return app


def _init_extensions(app: Flask) -> None:
    from portal import accounts, i18n  # noqa: F401 - accounts registers the user loader
    from portal.extensions import csrf, db, limiter, login_manager, migrate
    from portal.services import (
        outbox,  # noqa: F401 - rings the outbox doorbell after commits
        search_index,  # noqa: F401 - keeps the text index in each flush
    )

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from admin import bp as admin_bp
    from portal.api import bp as api_bp
    from portal.auth import bp as auth_bp
    from portal.extensions import csrf
    from portal.open311 import bp as open311_bp
    from portal.public import bp as public_bp
    from portal.supervisor import bp as supervisor_bp
    from portal.web import RowIdConverter

    app.url_map.converters["int"] = RowIdConverter  # before any rule is added
    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(supervisor_bp, url_prefix="/supervisor")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    # Open311 clients authenticate with api_key, not a session: no CSRF token to send.
    csrf.exempt(open311_bp)
    app.register_blueprint(open311_bp, url_prefix="/open311/v2")
    app.register_blueprint(admin_bp, url_prefix="/admin")


def _register_cli(app: Flask) -> None:
    from portal import cli

    cli.init_app(app)
