"""The MQTT door: a long-running worker that stores what devices publish.

Devices publish to `sensors/<device code>/readings` with QoS 1. The listener subscribes
to the shared subscription `$share/portal/sensors/+/readings`, so several listeners
split the stream, with a persistent session (clean_session off, a fixed client id): what
arrives while it is away waits at the broker. It acknowledges a message only after the
transaction holding its readings has committed, so a database outage loses nothing that
was acknowledged: the broker resends what was not.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from portal.models import utcnow
from portal.services import readings

TOPIC_PREFIX = "sensors/"
TOPIC_FILTER = "sensors/+/readings"
SHARED_FILTER = "$share/portal/" + TOPIC_FILTER
FILL_POLL = 0.01  # seconds between two looks at a filling batch
_PUBACK = struct.Struct("!BBH")  # packet type, remaining length 2, message id

log = logging.getLogger("portal.sensors")


def topic_for(code: str) -> str:
    """Return the topic a device publishes its readings to."""
    return f"{TOPIC_PREFIX}{code}/readings"


def code_of(topic: str) -> str | None:
    """Return the device code a topic names, None if it is not a readings topic."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "sensors" or parts[2] != "readings" or not parts[1]:
        return None
    return parts[1]


@dataclass
class Broker:
    """Where the broker is and how to log in to it."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = ""
    client_id: str = "portal-listener"


def broker_from(config: dict) -> Broker:
    """Return the broker a portal's settings name."""
    return Broker(
        host=config["MQTT_HOST"],
        port=config["MQTT_PORT"],
        username=config.get("MQTT_USER", ""),
        password=config.get("MQTT_PASSWORD", ""),
        client_id=config.get("MQTT_CLIENT_ID", "portal-listener"),
    )


def answers(broker: Broker, timeout: float = 2.0) -> bool:
    """Tell whether a broker accepts a connection."""
    import socket

    try:
        with socket.create_connection((broker.host, broker.port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Stats:
    """What the listener has done since it started."""

    messages: int = 0
    stored: int = 0
    refused: int = 0
    batches: int = 0
    db_errors: int = 0
    reconnects: int = 0
    reasons: dict = field(default_factory=dict)
    # The longest a message waited in this worker, from its arrival to its commit (seconds).
    worst_wait: float = 0.0
    store_seconds: float = 0.0  # in the database (checks, inserts, rules, commit)
    ack_seconds: float = 0.0  # acknowledging to the broker


class Listener:
    """Receive on paho's network thread, store and acknowledge in batches on this one."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        broker: Broker,
        *,
        raw_days: int = 90,
        batch_size: int = 2000,
        batch_wait: float = 0.2,
        after_store: Callable[[Session, list[dict], datetime], None] | None = None,
        shared: bool = True,
    ) -> None:
        self.session_factory = session_factory
        self.broker = broker
        self.raw_days = raw_days
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.after_store = after_store
        self.topic = SHARED_FILTER if shared else TOPIC_FILTER
        # paho's thread appends, this one takes whole batches: no lock and no wake-up per
        # message (a queue.Queue woke this thread for every message it waited on).
        self.inbox: deque = deque()
        self.arrived = threading.Event()
        self.directory = readings.Directory()
        self.stats = Stats()
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=broker.client_id,
            clean_session=False,
            manual_ack=True,
        )
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the listener: %s", reason_code)
            return
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        log.info("listening on %s:%s %s", self.broker.host, self.broker.port, self.topic)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            self.stats.reconnects += 1
            log.warning("lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        self.inbox.append(message)
        if not self.arrived.is_set():
            self.arrived.set()

    def start(self) -> None:
        """Connect (retrying in the background) and start the network thread."""
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread (unacknowledged messages stay queued)."""
        self.stopping.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _take(self) -> list:
        """Return up to batch_size messages, waiting at most batch_wait for the first, then
        at most batch_wait more for the batch to fill."""
        if not self.inbox:
            self.arrived.clear()
            if not self.inbox:  # one may have come between the look and the clear
                self.arrived.wait(self.batch_wait)
            if not self.inbox:
                return []
        deadline = time.monotonic() + self.batch_wait
        while len(self.inbox) < self.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, FILL_POLL))
        take = self.inbox.popleft
        return [take() for _ in range(min(self.batch_size, len(self.inbox)))]

    def _store(self, batch: list) -> None:
        """Store a batch in one transaction, retrying until the database takes it."""
        messages = []
        bad_topics = 0
        for message in batch:
            code = code_of(message.topic)
            if code is None:
                bad_topics += 1
                continue
            messages.append((code, message.payload))
        delay = 0.5
        began = time.monotonic()
        while not self.stopping.is_set():
            session = self.session_factory()
            try:
                now = utcnow()
                outcome = readings.ingest_messages(
                    session, messages, self.directory, now, raw_days=self.raw_days
                )
                if self.after_store is not None and outcome.stored:
                    self.after_store(session, outcome.stored, now)
                session.commit()
            except (OperationalError, DBAPIError) as error:
                session.rollback()
                self.stats.db_errors += 1
                log.warning("database unavailable, keeping %d messages: %s", len(batch), error)
                self.directory.loaded_at = None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            finally:
                session.close()
            self.stats.stored += len(outcome.stored)
            self.stats.refused += outcome.refused + bad_topics
            for reason, n in outcome.by_reason().items():
                self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + n
            self.stats.batches += 1
            break
        else:
            return  # stopping: leave the batch unacknowledged for the broker to resend
        committed = time.monotonic()
        self.stats.store_seconds += committed - began
        self._acknowledge(batch)
        self.stats.ack_seconds += time.monotonic() - committed
        self.stats.worst_wait = max(
            self.stats.worst_wait, max(committed - m.timestamp for m in batch)
        )
        self.stats.messages += len(batch)

    def _acknowledge(self, batch: list) -> None:
        """Send the PUBACKs of a batch's QoS 1 messages in one write.

        paho's ack() queues one packet per message and wakes its network thread for each:
        two system calls and a thread switch a message. The PUBACKs (4 bytes each, the same
        in MQTT 3.1.1 and 5) are joined into one packet for paho's queue (its private
        _packet_queue, paho-mqtt 2.1.0 as pinned); QoS 2 keeps ack()."""
        queue_packet = getattr(self.client, "_packet_queue", None)
        acks = []
        for message in batch:
            if message.qos == 1 and queue_packet is not None:
                acks.append(_PUBACK.pack(mqtt.PUBACK, 2, message.mid))
            elif message.qos > 0:
                self.client.ack(message.mid, message.qos)
        if acks:
            queue_packet(mqtt.PUBACK, b"".join(acks), 0, 0)

    def run(
        self,
        until: Callable[[], bool] | None = None,
        every: Callable[[], None] | None = None,
        every_seconds: float = 60.0,
    ) -> Stats:
        """Store batches until stopped (or until() is true); call every() now and then."""
        next_chore = time.monotonic()
        while not self.stopping.is_set() and not (until is not None and until()):
            if every is not None and time.monotonic() >= next_chore:
                every()
                next_chore = time.monotonic() + every_seconds
            self.step()
        return self.stats

    def step(self) -> int:
        """Take one batch (waiting briefly), store and acknowledge it; return its size."""
        batch = self._take()
        if batch:
            self._store(batch)
        return len(batch)


def chores(session_factory: Callable[[], Session], raw_days: int) -> Callable[[], None]:
    """Return the listener's periodic work: partitions ahead, silence, escalation."""
    from portal.services import alarms

    def run() -> None:
        session = session_factory()
        try:
            now = utcnow()
            readings.ensure_partitions(session, now, back_days=raw_days)
            alarms.sweep_silence(session, now)
            alarms.escalate(session, now)
            session.commit()
        except (OperationalError, DBAPIError) as error:
            session.rollback()
            log.warning("chores skipped, database unavailable: %s", error)
        finally:
            session.close()

    return run


def keep_alive_for(seconds: float) -> Callable[[], bool]:
    """Return an until() that is true after some seconds."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end
