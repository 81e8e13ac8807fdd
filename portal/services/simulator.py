"""Realistic readings for the demo devices, published over MQTT like the devices would.

The story: a rainstorm floods two underpasses (WL-01, WL-02 pass 15 cm after a minute and
a half; the alarm follows two minutes later), a site broke the night noise limit last
night (its monitor uploads the night's buffered readings first), a cover is knocked open
after a minute, and a dust monitor (YC-04) has fallen silent. Everything else reports
ordinary values.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.models import Device
from portal.services import demo_devices, rules
from portal.services.listener import topic_for


@dataclass
class Message:
    """One MQTT publication."""

    topic: str
    payload: str


class Story:
    """What each demo device reports as the simulation runs."""

    def __init__(self, devices: list[Device], started: datetime, seed: int = 7) -> None:
        self.devices = [d for d in devices if d.code != demo_devices.SILENT_DEVICE]
        self.started = started
        self.rng = random.Random(seed)  # noqa: S311 - simulated readings, not a secret

    def last_night(self) -> list[Message]:
        """Return the noisy site's buffered readings of last night, 22:00 to 23:30 local."""
        site = next((d for d in self.devices if d.code == demo_devices.NOISY_SITE), None)
        if site is None:
            return []
        local = self.started.astimezone(rules.LOCAL)
        evening = local.replace(hour=22, minute=0, second=0, microsecond=0)
        if evening > local:
            evening -= timedelta(days=1)
        items = []
        for minute in range(91):
            moment = evening + timedelta(minutes=minute, seconds=30)  # between stored ones
            value = 72.0 if minute == 70 else round(self.rng.uniform(59, 64), 1)
            items.append(
                {"device": site.code, "ts": moment.isoformat(), "values": {"noise": value}}
            )
        return [Message(topic_for(site.code), json.dumps(items))]

    def values(self, device: Device, now: datetime) -> dict[str, float]:
        """Return what a device reads at a moment of the story."""
        elapsed = (now - self.started).total_seconds()
        if device.kind == "water_depth":
            if device.code in demo_devices.FLOODED:
                depth = min(28.0, 0.5 + elapsed / 6)
            else:
                depth = min(6.0, 0.5 + elapsed / 60)
            return {"depth": round(depth + self.rng.uniform(-0.2, 0.2), 1)}
        if device.code == demo_devices.OPEN_COVER and elapsed >= 60:
            return {"tilt": round(self.rng.uniform(33, 37), 1), "open": 1.0}
        return demo_devices.typical(device, now, self.rng)

    def tick(self, now: datetime) -> list[Message]:
        """Return every device's reading at this moment."""
        return [
            Message(
                topic_for(d.code),
                json.dumps(
                    {"device": d.code, "ts": now.isoformat(), "values": self.values(d, now)}
                ),
            )
            for d in self.devices
        ]
