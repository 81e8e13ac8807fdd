"""Fixtures of the hostile-input tests."""

import pytest

from tests.security.world import World, build_world


@pytest.fixture
def world(app, db, reference) -> World:
    """Return one object of every kind the URL map names, each with an owner."""
    return build_world(app, db)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how many examples the fuzzing sent each route, when it ran."""
    from tests.security.strategies import examples_per_route

    if not examples_per_route:
        return
    terminalreporter.section("examples per route (tests/security/test_fuzz_routes.py)")
    for route, count in sorted(examples_per_route.items()):
        terminalreporter.write_line(f"{count:>5}  {route}")
    terminalreporter.write_line(
        f"{sum(examples_per_route.values()):>5}  requests to {len(examples_per_route)} routes"
    )
