"""Operator commands for sensors: flask --app wsgi sensors listen, partitions, purge, simulate."""

from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from flask.cli import AppGroup

from portal.extensions import db
from portal.models import utcnow

sensors_cli = AppGroup("sensors", help="Sensor readings, the MQTT listener and the simulator.")


def _session_factory():
    """Return a factory of sessions bound to the portal's engine."""
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=db.engine, expire_on_commit=False)


@sensors_cli.command("listen")
@click.option(
    "--seconds", type=float, default=0, help="Stop after this long (0: run until killed)."
)
def sensors_listen(seconds: float) -> None:
    """Store readings devices publish over MQTT (QoS 1, persistent session, shared unless
    MQTT_SHARED is off)."""
    from portal.services import alarms, listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = current_app.config
    broker = listener.broker_from(config)
    factory = _session_factory()
    worker = listener.Listener(
        factory,
        broker,
        raw_days=config["READINGS_RAW_DAYS"],
        after_store=alarms.evaluate_stored,
        shared=config["MQTT_SHARED"],
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stopping.set())
    chores = listener.chores(factory, config["READINGS_RAW_DAYS"])
    until = listener.keep_alive_for(seconds) if seconds else None
    click.echo(f"Listening on {broker.host}:{broker.port} ({worker.topic}).")
    worker.start()
    try:
        stats = worker.run(until=until, every=chores, every_seconds=30)
    finally:
        worker.stop()
    click.echo(
        f"Stored {stats.stored} readings from {stats.messages} messages; "
        f"refused {stats.refused}; database errors {stats.db_errors}."
    )


@sensors_cli.command("partitions")
@click.option("--ahead", type=int, default=2, help="Months ahead to create.")
def sensors_partitions(ahead: int) -> None:
    """Create the monthly partitions of the readings table ahead of time (PostgreSQL)."""
    from portal.services import readings

    made = readings.ensure_partitions(
        db.session, utcnow(), back_days=current_app.config["READINGS_RAW_DAYS"], ahead=ahead
    )
    db.session.commit()
    click.echo(f"Partitions created: {', '.join(made) or 'none needed'}.")


@sensors_cli.command("purge")
def sensors_purge() -> None:
    """Delete raw readings past READINGS_RAW_DAYS (the hourly aggregates stay)."""
    from portal.services import readings

    days = current_app.config["READINGS_RAW_DAYS"]
    removed = readings.purge(db.session, utcnow(), days)
    db.session.commit()
    click.echo(f"Raw readings older than {days} days removed: {removed}.")


@sensors_cli.command("ping")
def sensors_ping() -> None:
    """Say whether the MQTT broker answers (exit 1 if not)."""
    from portal.services import listener

    broker = listener.broker_from(current_app.config)
    if listener.answers(broker):
        click.echo(f"MQTT broker at {broker.host}:{broker.port} answers.")
        return
    click.echo(
        f"No MQTT broker answers at {broker.host}:{broker.port}: sensor readings over MQTT "
        "will not arrive. Start one: mosquitto -d -c /etc/mosquitto/mosquitto.conf",
        err=True,
    )
    raise SystemExit(1)


@sensors_cli.command("simulate")
@click.option("--minutes", type=float, default=0, help="Stop after this long (0: until killed).")
@click.option("--interval", type=float, default=10, help="Seconds between two readings.")
def sensors_simulate(minutes: float, interval: float) -> None:
    """Publish realistic readings of the demo devices over MQTT: a rainstorm floods two
    underpasses, a site broke the night noise limit, a cover is knocked open, one is silent."""
    import time

    import paho.mqtt.client as mqtt
    from sqlalchemy import select

    from portal.models import Device
    from portal.services import listener, simulator

    broker = listener.broker_from(current_app.config)
    devices = db.session.scalars(select(Device).where(Device.active.is_(True))).all()
    if not devices:
        raise click.ClickException("No devices: run flask --app wsgi demo load first.")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="portal-simulator")
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.max_inflight_messages_set(1000)
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as error:
        raise click.ClickException(
            f"No MQTT broker at {broker.host}:{broker.port}: {error}"
        ) from error
    client.loop_start()
    story = simulator.Story(list(devices), utcnow())
    sent = 0
    for message in story.last_night():
        client.publish(message.topic, message.payload, qos=1).wait_for_publish(10)
        sent += 1
    click.echo(f"Simulating {len(story.devices)} devices every {interval:g} s (Ctrl-C stops).")
    end = time.monotonic() + minutes * 60 if minutes else None
    try:
        while end is None or time.monotonic() < end:
            for message in story.tick(utcnow()):
                client.publish(message.topic, message.payload, qos=1)
                sent += 1
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        client.disconnect()
    click.echo(f"Published {sent} messages.")
