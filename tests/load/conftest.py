"""Load and fault tests (each module is marked `load`): each prints its figures at the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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


def pytest_terminal_summary(terminalreporter) -> None:
    """Show every test's figures after the run, without -s."""
    if not FIGURES:
        return
    terminalreporter.section("load and fault figures")
    for title, values in FIGURES:
        terminalreporter.write_line(title)
        for name, value in values.items():
            terminalreporter.write_line(f"  {name}: {value}")
