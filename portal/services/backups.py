"""Backups: the database (SQLite's online backup or pg_dump) and the photos it points at, in
one tar archive with a manifest of row counts and the SHA-256 of every file; and restoring
one into an empty database. The photos come from, and go back to, the object store
(local disk or S3); the archive is written to a local path and, with `upload_to`, kept in
the object store too."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, inspect, select, text
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.engine import URL

from portal.models import CacheVersion, KpiVersion
from portal.services import kpi_cache, reference
from portal.services.photo_cleanup import REFERENCES
from portal.services.photos import PhotoStore

FORMAT = 1
MANIFEST = "manifest.json"
DUMPS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
PHOTOS = "photos"


class BackupError(RuntimeError):
    """Raised when a backup cannot be made or restored, with the reason."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _counts(connection: Connection) -> dict[str, int]:
    """Return the number of rows of every table."""
    return {
        name: connection.execute(select(func.count()).select_from(sql_table(name))).scalar()
        for name in sorted(inspect(connection).get_table_names())
    }


def _revision(connection: Connection) -> str:
    if "alembic_version" not in inspect(connection).get_table_names():
        return ""
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""


def _photo_hashes(connection: Connection) -> set[str]:
    found: set[str] = set()
    for column in REFERENCES:
        table = column.class_.__table__.name
        names = inspect(connection).get_table_names()
        if table in names:
            query = select(sql_column(column.key)).distinct().select_from(sql_table(table))
            found.update(h for (h,) in connection.execute(query) if h)
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """Return a libpq connection string without the password, and the environment with it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    tool = shutil.which(command[0])
    if tool is None:
        raise BackupError(f"{command[0]} is not installed")
    done = subprocess.run([tool, *command[1:]], env=env, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


@contextmanager
def _snapshot(engine: Engine, work: Path) -> Iterator[tuple[Connection, Path]]:
    """Dump the database into the work folder; yield a connection that sees exactly what the
    dump holds, and the dump."""
    dump = work / DUMPS[engine.dialect.name]
    if engine.dialect.name == "sqlite":
        source = engine.url.database
        if not source or source == ":memory:":
            raise BackupError("an in-memory database cannot be backed up")
        with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(dump)) as copy:
            live.backup(copy)  # the online backup API: consistent while the portal runs
        copied = create_engine(f"sqlite:///{dump}")
        try:
            with copied.connect() as connection:
                yield connection, dump
        finally:
            copied.dispose()
        return
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        # pg_dump shares this transaction's snapshot: counts and photos match the dump.
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        target, env = _libpq(engine.url)
        _run(
            ["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={dump}", target], env
        )
        yield connection, dump
        connection.rollback()


def create(engine: Engine, store: PhotoStore, path: Path, now: datetime) -> dict[str, Any]:
    """Write a backup archive of the database and its photos; return its manifest."""
    if engine.dialect.name not in DUMPS:
        raise BackupError(f"no backup method for {engine.dialect.name}")
    path = Path(path)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with _snapshot(engine, work) as (connection, dump):
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "created_at": now.isoformat(),
                "dialect": engine.dialect.name,
                "revision": _revision(connection),
                "tables": _counts(connection),
            }
            hashes = sorted(_photo_hashes(connection))
        members = {dump.name: dump}
        missing = []
        for sha in hashes:
            for variant in ("full", "thumb"):
                key = store.key(sha, variant)
                copy = work / PHOTOS / key
                copy.parent.mkdir(parents=True, exist_ok=True)
                try:
                    store.backend.download(key, copy)
                except FileNotFoundError:
                    copy.unlink(missing_ok=True)
                    missing.append(key)
                    continue
                members[f"{PHOTOS}/{key}"] = copy
        manifest["files"] = {name: _sha256(member) for name, member in members.items()}
        manifest["photos"] = len(hashes)
        manifest["missing"] = missing
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        partial = path.with_name(path.name + ".part")
        with tarfile.open(partial, "w") as archive:
            archive.add(work / MANIFEST, arcname=MANIFEST)
            for name, member in members.items():
                archive.add(member, arcname=name)
        os.replace(partial, path)
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    """Return the manifest of a backup archive."""
    try:
        with tarfile.open(path) as archive:
            handle = archive.extractfile(MANIFEST)
            if handle is None:
                raise KeyError(MANIFEST)
            manifest = json.load(handle)
    except (OSError, KeyError, tarfile.TarError, ValueError) as error:
        raise BackupError(f"not a portal backup: {error}") from error
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')}")
    return manifest


def _unpack(path: Path, work: Path, manifest: dict[str, Any]) -> None:
    """Extract the archive and check every file against the manifest."""
    with tarfile.open(path) as archive:
        archive.extractall(work, filter="data")
    for name, expected in manifest["files"].items():
        member = work / name
        if not member.is_file() or _sha256(member) != expected:
            raise BackupError(f"{name} is missing or damaged in the archive")


def is_empty(engine: Engine) -> bool:
    """Tell whether a database has no tables at all."""
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


def _restore_database(engine: Engine, dump: Path, force: bool) -> None:
    engine.dispose()
    if engine.dialect.name == "sqlite":
        target = engine.url.database
        if not target or target == ":memory:":
            raise BackupError("cannot restore into an in-memory database")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(dump)) as source, closing(sqlite3.connect(target)) as dest:
            source.backup(dest)  # replaces every page of the destination
        return
    if force:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    target, env = _libpq(engine.url)
    restore_command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
    _run([*restore_command, f"--dbname={target}", str(dump)], env)


def _restore_photos(work: Path, store: PhotoStore) -> int:
    copied = 0
    for source in sorted((work / PHOTOS).glob("??/*.jpg")):
        key = source.relative_to(work / PHOTOS).as_posix()
        try:
            if hashlib.sha256(store.backend.get(key)).hexdigest() == _sha256(source):
                continue
        except FileNotFoundError:
            pass
        store.backend.put_file(key, source, content_type="image/jpeg")
        copied += 1
    return copied


# The counters the workers' caches compare (the reference data each worker keeps, the past
# months' KPIs): a restore brings back older numbers, which a running worker may have seen
# with other data, so every one is moved past the highest seen before the restore. Each
# with the row every copy depends on (the reference data's; the KPIs' "any month").
CACHE_VERSIONS = (
    (CacheVersion.__table__, CacheVersion.name, reference.NAME),
    (KpiVersion.__table__, KpiVersion.month, kpi_cache.ANY_MONTH),
)


def _cache_versions(engine: Engine) -> int:
    """Return the highest cache version in the database (0 when there is none)."""
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        highest = [
            connection.scalar(select(func.max(table.c.version)))
            for table, _key, _value in CACHE_VERSIONS
            if table.name in present
        ]
    return max((v or 0 for v in highest), default=0)


def _move_cache_versions(engine: Engine, before: int) -> None:
    """Set every cache version past both the restored ones and those before the restore, so
    that no running worker keeps a copy read from other data under the same number."""
    past = max(before, _cache_versions(engine)) + 1
    with engine.begin() as connection:
        present = set(inspect(connection).get_table_names())
        for table, key, value in CACHE_VERSIONS:
            if table.name not in present:
                continue
            connection.execute(table.update().values(version=past))
            if connection.scalar(select(func.count()).where(key == value)) == 0:
                connection.execute(table.insert().values({key.key: value, "version": past}))


def restore(engine: Engine, store: PhotoStore, path: Path, force: bool = False) -> dict[str, Any]:
    """Restore a backup archive into an empty database (any database with `force`) and its
    photos into the store; check the row counts; return the manifest."""
    manifest = read_manifest(path)
    if manifest["dialect"] != engine.dialect.name:
        raise BackupError(
            f"the backup is of a {manifest['dialect']} database, the target is "
            f"{engine.dialect.name}"
        )
    if not force and not is_empty(engine):
        raise BackupError("the target database is not empty (use --force to replace it)")
    before = _cache_versions(engine)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        _unpack(path, work, manifest)
        _restore_database(engine, work / DUMPS[manifest["dialect"]], force)
        manifest["copied"] = _restore_photos(work, store)
    with engine.connect() as connection:
        counts = _counts(connection)
    _move_cache_versions(engine, before)
    if counts != manifest["tables"]:
        differ = sorted(
            n
            for n in set(counts) | set(manifest["tables"])
            if counts.get(n) != manifest["tables"].get(n)
        )
        raise BackupError(f"restored row counts differ from the backup in: {', '.join(differ)}")
    return manifest
