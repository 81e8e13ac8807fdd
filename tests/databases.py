"""PostgreSQL databases beside the test one: per xdist worker, restore targets, benchmarks."""

from __future__ import annotations

from sqlalchemy import create_engine, make_url, text


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database a URL names if it is missing (SQLite makes its file)."""
    target = make_url(url)
    if target.get_backend_name() != "postgresql":
        return
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    engine.dispose()
