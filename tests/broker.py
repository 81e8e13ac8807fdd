"""A private Mosquitto for tests: a free port, a password file, and an ACL under which a
device may publish only to its own topic, as production runs it."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess  # nosec B404 - starts the test broker
import time
from pathlib import Path

import paho.mqtt.client as mqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
LISTENER_USER = ("portal", "portal-secret")


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mosquitto:
    """One broker process; restartable, its persistence kept across restarts."""

    def __init__(self, folder: Path, devices: dict[str, str]) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        passwords = folder / "passwd"
        passwords.write_text("")
        for user, password in {LISTENER_USER[0]: LISTENER_USER[1], **devices}.items():
            subprocess.run([PASSWD, "-b", str(passwords), user, password], check=True)  # nosec
        acl = folder / "acl"
        acl.write_text(
            f"user {LISTENER_USER[0]}\ntopic read sensors/+/readings\n\n"
            "pattern write sensors/%u/readings\n"
        )
        (folder / "data").mkdir(exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            f"acl_file {acl}\n"
            "persistence true\n"
            f"persistence_location {folder / 'data'}/\n"
            "autosave_interval 1\n"
            "max_inflight_messages 5000\n"
            "max_queued_messages 1000000\n"
            f"log_dest file {folder / 'mosquitto.log'}\n"
            # Run as root, mosquitto would drop to its own user, who cannot write here.
            f"user {getpass.getuser()}\n"
        )

    def start(self) -> None:
        """Start the broker and wait until it answers."""
        self.process = subprocess.Popen(  # nosec B603
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        """Stop the broker (it saves its persistence file on the way out)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def publisher(port: int, user: str, password: str) -> mqtt.Client:
    """Return a connected device client (QoS 1 publishing, its own session)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{user}")
    client.username_pw_set(user, password)
    client.max_inflight_messages_set(1000)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    connected = []
    client.on_connect = lambda c, u, f, rc, p: connected.append(rc)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not connected and time.monotonic() < deadline:
        time.sleep(0.02)
    if not connected or connected[0].is_failure:
        raise RuntimeError(f"device {user} could not connect: {connected}")
    return client
