"""Object storage: photos, thumbnails and backup archives go through one interface with two
backends, chosen by the STORAGE_URL setting:

- a folder on local disk (the default, `file:///path` or a plain path: UPLOAD_DIR);
- any S3-compatible store through boto3 (MinIO, SeaweedFS, Aliyun OSS, Tencent COS):
  `s3://bucket?endpoint=http://host:port&region=...&prefix=...&addressing=path|virtual`,
  with the credentials from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or
  whatever else boto3 reads).

Objects are named by keys ("ab/ab12….jpg"). Each stored object carries a claim token: a
writer that finds an object already there claims it (a new token, a new modification time),
so that neither a rollback elsewhere (which deletes only an object still bearing its own
token) nor the orphan sweep (which spares young objects) removes what a transaction is about
to point at. The bucket itself is never public: what the public may see is served through
the app, or by a presigned link issued after the same check.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

LOCK_FILE = ".lock"
PART_SUFFIX = ".part"
CLAIM = "claim"  # the metadata field holding an S3 object's claim token


class StoreUnavailable(RuntimeError):
    """Raised when the object store cannot be reached or refuses to work."""


class StorageConfigError(ValueError):
    """Raised for a STORAGE_URL the portal cannot use."""


@dataclass(frozen=True)
class StoredObject:
    """One object as a listing or a lookup sees it."""

    key: str
    size: int
    modified: float  # seconds since the epoch
    token: str = ""


class ObjectStore(Protocol):
    """What every backend does."""

    url: str
    is_local: bool

    def put(self, key: str, data: bytes, *, content_type: str = ...) -> tuple[str, bool]: ...
    def put_file(self, key: str, path: Path, *, content_type: str = ...) -> None: ...
    def claim(self, key: str) -> str | None: ...
    def delete_if(self, key: str, token: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def download(self, key: str, path: Path) -> None: ...
    def head(self, key: str) -> StoredObject | None: ...
    def list(self, prefix: str = "") -> Iterator[StoredObject]: ...
    def presigned_url(self, key: str, seconds: int, cache_control: str) -> str | None: ...
    def locked(self) -> Any: ...
    def check(self) -> None: ...
    def close(self) -> None: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not an object key: {key!r}")
    return key


class LocalStore:
    """Objects as files under a root folder, written under a temporary name, synced and
    renamed; claims and deletions under a lock shared by every process on the machine."""

    is_local = True

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.url = self.root.as_uri() if self.root.is_absolute() else str(self.root)

    def path(self, key: str) -> Path:
        """Return the file that holds an object."""
        return self.root / _check_key(key)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock, shared by every worker process and thread."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _claim(self, target: Path) -> str | None:
        try:
            stat = target.stat()
        except FileNotFoundError:
            return None
        os.utime(target, ns=(stat.st_atime_ns, max(time.time_ns(), stat.st_mtime_ns + 1)))
        return str(target.stat().st_mtime_ns)

    def claim(self, key: str) -> str | None:
        """Claim an existing object; return its new token, None if it is absent."""
        with self.locked():
            return self._claim(self.path(key))

    def put(self, key: str, data: bytes, *, content_type: str = "") -> tuple[str, bool]:
        """Store an object unless it is there (then claim it); return its token and whether
        it was newly created."""
        target = self.path(key)
        with self.locked():
            if (token := self._claim(target)) is not None:
                return token, False
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=PART_SUFFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            with self.locked():
                if (token := self._claim(target)) is not None:
                    return token, False  # another writer stored it meanwhile
                os.replace(temporary, target)
                token = str(target.stat().st_mtime_ns)
        finally:
            Path(temporary).unlink(missing_ok=True)
        _sync_directory(target.parent)
        return token, True

    def put_file(self, key: str, path: Path, *, content_type: str = "") -> None:
        """Store (or replace) an object from a file, atomically."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".copy" + PART_SUFFIX)
        with open(path, "rb") as source, open(partial, "wb") as out:
            while block := source.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)

    def delete_if(self, key: str, token: str) -> bool:
        """Delete an object that still bears this token; tell whether it was deleted."""
        target = self.path(key)
        with self.locked():
            try:
                if str(target.stat().st_mtime_ns) == token:
                    target.unlink()
                    return True
            except FileNotFoundError:
                pass
        return False

    def delete(self, key: str) -> None:
        """Delete an object, if there."""
        self.path(key).unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        """Return an object's bytes (FileNotFoundError if absent)."""
        return self.path(key).read_bytes()

    def download(self, key: str, path: Path) -> None:
        """Copy an object to a local file."""
        with open(self.path(key), "rb") as source, open(path, "wb") as out:
            while block := source.read(1 << 20):
                out.write(block)

    def head(self, key: str) -> StoredObject | None:
        """Return an object's size and time, or None if it is absent."""
        try:
            stat = self.path(key).stat()
        except FileNotFoundError:
            return None
        return StoredObject(key, stat.st_size, stat.st_mtime_ns / 1e9, str(stat.st_mtime_ns))

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Yield every object (unfinished temporary files included) under a key prefix."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name == LOCK_FILE:
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                yield StoredObject(key, stat.st_size, stat.st_mtime_ns / 1e9)

    def presigned_url(self, key: str, seconds: int, cache_control: str) -> str | None:
        """A folder has no links of its own: the app serves its files."""
        return None

    def close(self) -> None:
        """Nothing to let go of."""

    def check(self) -> None:
        """Make sure the folder can be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(str(error)) from error


def _sync_directory(directory: Path) -> None:
    """Make a rename in a directory durable before the row pointing at it is committed."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class S3Store:
    """Objects in a bucket of an S3-compatible store. Every call that fails to reach the store
    raises StoreUnavailable."""

    is_local = False

    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        prefix: str = "",
        addressing: str = "",
        timeout: float = 5.0,
        url: str = "",
    ) -> None:
        import boto3
        from botocore.config import Config

        if not bucket:
            raise StorageConfigError("STORAGE_URL names no bucket: s3://BUCKET?endpoint=...")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = url or f"s3://{bucket}"
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout * 4,
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": addressing or ("path" if endpoint else "auto")},
            signature_version="s3v4",
        )
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint or None, region_name=region or "us-east-1", config=config
        )

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    @contextmanager
    def _calls(self) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(str(error)) from error
            if status >= 500 or code in ("SlowDown", "ServiceUnavailable"):
                raise StoreUnavailable(str(error)) from error
            raise
        except BotoCoreError as error:
            raise StoreUnavailable(str(error)) from error

    @contextmanager
    def locked(self) -> Iterator[None]:
        """No machine-wide lock spans a cluster: claims carry tokens instead, and on
        PostgreSQL the photo module holds an advisory lock (see photos.save_for_session)."""
        yield

    def head(self, key: str) -> StoredObject | None:
        """Return an object's size, time and claim token, or None if it is absent."""
        try:
            with self._calls():
                found = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return None
        return StoredObject(
            key,
            int(found["ContentLength"]),
            found["LastModified"].timestamp(),
            found.get("Metadata", {}).get(CLAIM, ""),
        )

    def claim(self, key: str) -> str | None:
        """Claim an existing object by copying it onto itself with a new token (which moves
        its modification time forward); return the token, None if it is absent."""
        found = self.head(key)
        if found is None:
            return None
        token = secrets.token_hex(12)
        try:
            with self._calls():
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    CopySource={"Bucket": self.bucket, "Key": self._key(key)},
                    Metadata={CLAIM: token},
                    MetadataDirective="REPLACE",
                    ContentType="image/jpeg" if key.endswith(".jpg") else "binary/octet-stream",
                )
        except FileNotFoundError:
            return None
        return token

    def put(self, key: str, data: bytes, *, content_type: str = "image/jpeg") -> tuple[str, bool]:
        """Store an object unless it is there (then claim it); return its token and whether
        it was newly created. A PUT is atomic on S3."""
        if (token := self.claim(key)) is not None:
            return token, False
        token = secrets.token_hex(12)
        with self._calls():
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=content_type,
                Metadata={CLAIM: token},
            )
        return token, True

    def put_file(self, key: str, path: Path, *, content_type: str = "binary/octet-stream") -> None:
        """Store (or replace) an object from a file, in parts when large."""
        with self._calls():
            self.client.upload_file(
                str(path),
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": content_type, "Metadata": {CLAIM: ""}},
            )

    def delete_if(self, key: str, token: str) -> bool:
        """Delete an object that still bears this token; tell whether it was deleted."""
        found = self.head(key)
        if found is None or found.token != token:
            return False
        self.delete(key)
        return True

    def delete(self, key: str) -> None:
        """Delete an object, if there."""
        with self._calls():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def get(self, key: str) -> bytes:
        """Return an object's bytes (FileNotFoundError if absent)."""
        with self._calls():
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def download(self, key: str, path: Path) -> None:
        """Copy an object to a local file."""
        with self._calls():
            self.client.download_file(self.bucket, self._key(key), str(path))

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Yield every object under a key prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        with self._calls():
            for page in pages:
                for item in page.get("Contents", []):
                    yield StoredObject(
                        item["Key"][len(self.prefix) :],
                        int(item["Size"]),
                        item["LastModified"].timestamp(),
                    )

    def presigned_url(self, key: str, seconds: int, cache_control: str) -> str | None:
        """Return a link that lets its holder read one object for a few seconds."""
        with self._calls():
            return str(
                self.client.generate_presigned_url(
                    "get_object",
                    Params={
                        "Bucket": self.bucket,
                        "Key": self._key(key),
                        "ResponseCacheControl": cache_control,
                        "ResponseContentType": "image/jpeg",
                    },
                    ExpiresIn=seconds,
                )
            )

    def close(self) -> None:
        """Close the client's pooled connections."""
        self.client.close()

    def check(self) -> None:
        """Make sure the bucket exists and answers (create it if missing)."""
        from botocore.exceptions import ClientError

        with self._calls():
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as error:
                if str(error.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket"):
                    raise
                self.client.create_bucket(Bucket=self.bucket)


def from_url(url: str, *, timeout: float = 5.0) -> LocalStore | S3Store:
    """Return the store a STORAGE_URL names: s3://bucket?endpoint=..., file:///path or a
    plain path."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region", "prefix", "addressing"}
        if unknown:
            raise StorageConfigError(f"STORAGE_URL: unknown option(s) {', '.join(sorted(unknown))}")
        prefix = query.get("prefix", "") or parts.path.strip("/")
        return S3Store(
            parts.netloc,
            endpoint=query.get("endpoint"),
            region=query.get("region"),
            prefix=prefix,
            addressing=query.get("addressing", ""),
            timeout=timeout,
            url=url,
        )
    if parts.scheme == "file":
        return LocalStore(parts.path)
    if parts.scheme:
        raise StorageConfigError(f"STORAGE_URL: unknown scheme {parts.scheme}: (s3:// or file://)")
    return LocalStore(url)


def for_app(app: Any) -> LocalStore | S3Store:
    """Return the app's store, made once (a boto3 client is safe to share between threads)."""
    found = app.extensions.get("portal_storage")
    if found is None:
        url = app.config.get("STORAGE_URL") or app.config["UPLOAD_DIR"]
        found = from_url(url, timeout=float(app.config.get("STORAGE_TIMEOUT", 5)))
        app.extensions["portal_storage"] = found
    elif (
        isinstance(found, LocalStore)
        and not app.config.get("STORAGE_URL")
        and str(found.root) != str(app.config["UPLOAD_DIR"])
    ):
        found = LocalStore(app.config["UPLOAD_DIR"])  # a test changed UPLOAD_DIR after start
        app.extensions["portal_storage"] = found
    return found


@dataclass
class Migration:
    """What copying one store into another did."""

    copied: list[str] = field(default_factory=list)
    present: int = 0
    failed: list[str] = field(default_factory=list)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def migrate(source: LocalStore | S3Store, target: LocalStore | S3Store) -> Migration:
    """Copy every object of one store into another, each checked by its SHA-256 read back
    from the target. Objects already there with the same hash are left as they are, so an
    interrupted run is resumed by running it again; one that differs is copied again."""
    result = Migration()
    for found in source.list():
        if found.key.endswith(PART_SUFFIX) or found.key.rsplit("/", 1)[-1] == LOCK_FILE:
            continue  # an upload in flight, not an object yet
        try:
            data = source.get(found.key)
        except FileNotFoundError:
            continue  # deleted (by the orphan sweep) since the listing
        expected = _digest(data)
        there = target.head(found.key)
        if there is not None and there.size == len(data):
            try:
                if _digest(target.get(found.key)) == expected:
                    result.present += 1
                    continue
            except FileNotFoundError:
                pass
        target.delete(found.key)
        target.put(found.key, data, content_type=_content_type(found.key))
        if _digest(target.get(found.key)) == expected:
            result.copied.append(found.key)
        else:
            result.failed.append(found.key)
    return result


def _content_type(key: str) -> str:
    return "image/jpeg" if key.endswith(".jpg") else "binary/octet-stream"
