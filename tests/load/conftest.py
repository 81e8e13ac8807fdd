"""Load and fault tests (each module is marked `load`): each prints its figures at the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.load.harness import (
    DATABASE_URL,
    REDIS_URL,
    Gunicorn,
    clear_limits,
    require_services,
)

# (test title, figures) in the order the tests recorded them.
FIGURES: list[tuple[str, dict[str, object]]] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Return a function that records and prints what a test measured."""

    def record(**values: object) -> None:
        FIGURES.append((request.node.name, values))
        print(f"\n{request.node.name}:")
        for name, value in values.items():
            print(f"  {name}: {value}")

    return record


@pytest.fixture
def server(app, db, reference, tmp_path):
    """Return the portal under gunicorn (4 workers of 8 threads) on the test database, with
    rate limits on and each resident behind a trusted proxy at an address of their own."""
    require_services()
    clear_limits()
    portal = Gunicorn(
        {
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "load-test-secret",
            "UPLOAD_DIR": app.config["UPLOAD_DIR"],
            "TRUSTED_PROXIES": "1",
            "RATELIMIT_ENABLED": "1",
            "GEOCODER": "",
        },
        tmp_path / "gunicorn.log",
    )
    portal.start()
    yield portal
    portal.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    """Show every test's figures after the run, without -s."""
    if not FIGURES:
        return
    terminalreporter.section("load and fault figures")
    for title, values in FIGURES:
        terminalreporter.write_line(title)
        for name, value in values.items():
            terminalreporter.write_line(f"  {name}: {value}")
