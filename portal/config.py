"""Settings read from the environment, in one class."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    """Raised when the portal cannot start with the settings it was given."""


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _local_secret(instance_path: Path) -> str:
    """Read the local secret key, generating it on first run."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def engine_options(config: dict[str, Any]) -> dict[str, Any]:
    """Return the engine options for the configured database: on PostgreSQL, give up
    connecting after a few seconds (a request answers 503) instead of hanging."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", config["DATABASE_CONNECT_TIMEOUT"])
        # libpq's GSSAPI (Kerberos) probe is not safe when threads connect at once, as they all
        # do when the database comes back: it crashed workers. Sites using Kerberos set it.
        connect_args.setdefault("gssencmode", config["DATABASE_GSSENCMODE"])
        options["connect_args"] = connect_args
    return options


def trusted_hosts(listed: str, public_url: str, production: bool) -> list[str] | None:
    """Return the host names the portal answers for (None: any): the host of PUBLIC_URL and
    those listed in TRUSTED_HOSTS; in development any host unless some are listed."""
    names = [name.strip() for name in listed.split(",") if name.strip()]
    if not names and not production:
        return None  # `flask run` on 127.0.0.1 or localhost, and the tests, as they are
    own = urlsplit(public_url).hostname
    return [own, *names] if own else names


class Settings:
    """Build the Flask configuration from environment variables."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def get(self, name: str, default: str = "") -> str:
        """Return one environment variable, empty values counting as absent."""
        value = self.environ.get(name)
        return default if value is None or value == "" else value

    def load(self, instance_path: str) -> dict[str, Any]:
        """Return the configuration mapping for an app whose instance folder is given."""
        instance = Path(instance_path)
        env = self.get("PORTAL_ENV", "development")
        production = env == "production"
        secret = self.get("SECRET_KEY")
        if not secret:
            if production:
                raise ConfigError(
                    "SECRET_KEY is not set. In production the portal refuses to start "
                    "without one: set SECRET_KEY to a long random string."
                )
            secret = _local_secret(instance)
        database_url = self.get("DATABASE_URL", f"sqlite:///{instance / 'portal.db'}")
        redis_url = self.get("REDIS_URL")
        public_url = self.get("PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
        service_area = self.get("SERVICE_AREA")
        if service_area:
            from portal.services.service_area import ServiceAreaError, read_setting

            try:
                read_setting(service_area)
            except ServiceAreaError as error:
                raise ConfigError(str(error)) from error
        return {
            "PORTAL_ENV": env,
            "SECRET_KEY": secret,
            # Earlier keys, comma-separated: links signed with them (mailed private links,
            # unsubscribe links) and query codes hashed with them keep working.
            "SECRET_KEY_FALLBACKS": [
                k.strip() for k in (self.get("SECRET_KEY_FALLBACKS") or "").split(",") if k.strip()
            ],
            "SQLALCHEMY_DATABASE_URI": database_url,
            # Pooled connections are checked before use: a restarted database left them dead.
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "DATABASE_CONNECT_TIMEOUT": int(self.get("DATABASE_CONNECT_TIMEOUT", "5")),
            "DATABASE_GSSENCMODE": self.get("DATABASE_GSSENCMODE", "disable"),
            # A PostgreSQL streaming replica for read-only public pages (portal/replica.py);
            # empty: every read goes to DATABASE_URL.
            "DATABASE_READ_URL": self.get("DATABASE_READ_URL"),
            "REPLICA_MAX_LAG_SECONDS": float(self.get("REPLICA_MAX_LAG_SECONDS", "5")),
            "REPLICA_CHECK_SECONDS": float(self.get("REPLICA_CHECK_SECONDS", "2")),
            "REPLICA_CONNECT_TIMEOUT": int(self.get("REPLICA_CONNECT_TIMEOUT", "2")),
            # After a browser writes, it reads from the primary for this long.
            "READ_YOUR_WRITES_SECONDS": int(self.get("READ_YOUR_WRITES_SECONDS", "30")),
            "REDIS_URL": redis_url,
            "UPLOAD_DIR": self.get("UPLOAD_DIR", str(instance / "uploads")),
            # Where photos and backup archives are kept: empty, the folder UPLOAD_DIR; or an
            # S3-compatible store, s3://bucket?endpoint=https://host&region=..., its
            # credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (portal/services/
            # storage.py). Several app nodes need S3: they share no disk.
            "STORAGE_URL": self.get("STORAGE_URL"),
            "STORAGE_TIMEOUT": float(self.get("STORAGE_TIMEOUT", "5")),
            # How photos on S3 reach browsers, after the same access check: "app" streams
            # them through the portal; "redirect" answers with a presigned link to the store
            # (a private photo's lives STORAGE_LINK_SECONDS, a public one's a day).
            "STORAGE_SERVE": self.get("STORAGE_SERVE", "app"),
            "STORAGE_LINK_SECONDS": int(self.get("STORAGE_LINK_SECONDS", "60")),
            # Brotli and gzip copies of the static files, made at start-up (portal/assets.py).
            "STATIC_CACHE_DIR": self.get("STATIC_CACHE_DIR", str(instance / "static")),
            "MAX_PHOTOS": int(self.get("MAX_PHOTOS", "5")),
            # Public case pages kept rendered per worker (0: off), and for how long at most.
            "PAGE_CACHE_MB": int(self.get("PAGE_CACHE_MB", "16")),
            "PAGE_CACHE_SECONDS": int(self.get("PAGE_CACHE_SECONDS", "600")),
            "MAX_PHOTO_MB": int(self.get("MAX_PHOTO_MB", "15")),
            # The whole request: every photo at its limit plus the form fields.
            "MAX_CONTENT_LENGTH": int(self.get("MAX_UPLOAD_MB", "80")) * 1024 * 1024,
            "MAP_TILE_URL": self.get(
                "MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
            ),
            "MAP_TILE_ATTRIBUTION": self.get(
                "MAP_TILE_ATTRIBUTION", "&copy; OpenStreetMap contributors"
            ),
            "MAP_CENTER": self.get("MAP_CENTER", "30.2741,120.1551"),
            "MAP_ZOOM": int(self.get("MAP_ZOOM", "14")),
            "GEOCODER": self.get("GEOCODER"),
            "GEOCODER_USER_AGENT": self.get("GEOCODER_USER_AGENT", "civic-portal"),
            "GEOCODER_DOMAIN": self.get("GEOCODER_DOMAIN"),
            "GEOCODER_SCHEME": self.get("GEOCODER_SCHEME", "https"),
            "GEOCODER_TIMEOUT": float(self.get("GEOCODER_TIMEOUT", "5")),
            "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
            "BABEL_DEFAULT_TIMEZONE": self.get("PORTAL_TIMEZONE", "Asia/Shanghai"),
            "PORTAL_LOCALES": ["zh_Hans_CN", "en"],
            "RATELIMIT_STORAGE_URI": redis_url or "memory://",
            "RATELIMIT_HEADERS_ENABLED": True,
            "RATELIMIT_REPORT": self.get("RATELIMIT_REPORT", "10 per hour;30 per day"),
            # Tries the form refused (errors, a nearby case offered): many people share one
            # carrier address, and a mistake must not use up the accepted-report limit.
            "RATELIMIT_REPORT_FAILED": self.get(
                "RATELIMIT_REPORT_FAILED", "60 per hour;200 per day"
            ),
            "RATELIMIT_FOLLOW": self.get("RATELIMIT_FOLLOW", "30 per hour"),
            "RATELIMIT_COMMENT": self.get("RATELIMIT_COMMENT", "10 per hour;30 per day"),
            "RATELIMIT_SUGGESTION": self.get("RATELIMIT_SUGGESTION", "10 per hour;30 per day"),
            "RATELIMIT_LOGIN": self.get("RATELIMIT_LOGIN", "10 per 5 minutes"),
            "RATELIMIT_SUPERVISOR_APPLY": self.get(
                "RATELIMIT_SUPERVISOR_APPLY", "5 per hour;10 per day"
            ),
            "RATELIMIT_PRIVACY": self.get("RATELIMIT_PRIVACY", "5 per hour;20 per day"),
            # Query-code lookups on /track, per address and per case number tried.
            "RATELIMIT_TRACK_LOOKUP": self.get("RATELIMIT_TRACK_LOOKUP", "10 per hour;30 per day"),
            "RATELIMIT_TRACK_LOOKUP_CASE": self.get(
                "RATELIMIT_TRACK_LOOKUP_CASE", "5 per hour;10 per day"
            ),
            # Private links mailed on request, per address and per case.
            "RATELIMIT_TRACK_LINK": self.get("RATELIMIT_TRACK_LINK", "5 per hour;20 per day"),
            "RATELIMIT_TRACK_LINK_CASE": self.get(
                "RATELIMIT_TRACK_LINK_CASE", "3 per hour;10 per day"
            ),
            # Password reset requests, per address and per e-mail asked for.
            "RATELIMIT_PASSWORD_RESET": self.get(
                "RATELIMIT_PASSWORD_RESET", "5 per hour;20 per day"
            ),
            # Redis down: count in each worker's memory rather than refuse or fail requests.
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_STORAGE_OPTIONS": (
                {"socket_connect_timeout": 1, "socket_timeout": 1} if redis_url else {}
            ),
            "RATELIMIT_API": self.get("RATELIMIT_API", "120 per minute"),
            # Open311: every answer per client address; posted requests per API key.
            "RATELIMIT_OPEN311": self.get("RATELIMIT_OPEN311", "300 per minute"),
            "RATELIMIT_OPEN311_KEY": self.get(
                "RATELIMIT_OPEN311_KEY", "60 per minute;2000 per day"
            ),
            # Hosts (name or name:port, comma separated) a media_url may point at; empty: none.
            "OPEN311_MEDIA_HOSTS": self.get("OPEN311_MEDIA_HOSTS"),
            "OPEN311_MEDIA_TIMEOUT": float(self.get("OPEN311_MEDIA_TIMEOUT", "10")),
            "OPEN311_CONTACT": self.get("OPEN311_CONTACT"),
            # The jurisdiction_id values this endpoint answers for (comma separated); with
            # one, clients may leave it out; empty: clients must leave it out.
            "OPEN311_JURISDICTION": self.get("OPEN311_JURISDICTION"),
            "OPEN311_KEY_SERVICE": self.get("OPEN311_KEY_SERVICE"),
            "RATELIMIT_ENABLED": _flag(self.get("RATELIMIT_ENABLED"), default=True),
            # How many reverse proxies in front set X-Forwarded-* (the limits key on the address).
            "TRUSTED_PROXIES": int(self.get("TRUSTED_PROXIES", "0")),
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": production,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": production,
            "PREFERRED_URL_SCHEME": "https" if production else "http",
            "WTF_CSRF_TIME_LIMIT": None,
            "PUBLIC_URL": public_url,
            # A request naming another host is refused (400): links never follow the Host
            # header, and a forged one cannot poison a cache or a password-reset mail either.
            "TRUSTED_HOSTS": trusted_hosts(self.get("TRUSTED_HOSTS"), public_url, production),
            "SMTP_HOST": self.get("SMTP_HOST", "127.0.0.1"),
            "SMTP_PORT": int(self.get("SMTP_PORT", "25")),
            "SMTP_USER": self.get("SMTP_USER"),
            "SMTP_PASSWORD": self.get("SMTP_PASSWORD"),
            "SMTP_STARTTLS": _flag(self.get("SMTP_STARTTLS")),
            "SMTP_TIMEOUT": float(self.get("SMTP_TIMEOUT", "10")),
            "MAIL_FROM": self.get("MAIL_FROM", "市政工程管理处 <noreply@localhost>"),
            "OFFICE_HOURS": self.get("OFFICE_HOURS", "09:00-12:00,13:30-17:30"),
            "LIST_BLACK_REPEATED": int(self.get("LIST_BLACK_REPEATED", "2")),
            "LIST_BLACK_LATE": int(self.get("LIST_BLACK_LATE", "3")),
            "LIST_BLACK_FAILED_ACCEPTANCES": int(self.get("LIST_BLACK_FAILED_ACCEPTANCES", "1")),
            "LIST_BLACK_EXCEEDANCES": int(self.get("LIST_BLACK_EXCEEDANCES", "10")),
            "LIST_RED_MIN_INSPECTIONS": int(self.get("LIST_RED_MIN_INSPECTIONS", "3")),
            "LIST_RED_PASS_RATE": float(self.get("LIST_RED_PASS_RATE", "1.0")),
            "LIST_VALID_DAYS": int(self.get("LIST_VALID_DAYS", "365")),
            # Sensors: the broker the listener and the simulator use, how long raw readings
            # are kept (hourly aggregates stay for years), the local PM10 limit (µg/m³,
            # hourly mean) and the confidence a detection needs to raise an alarm.
            "MQTT_HOST": self.get("MQTT_HOST", "127.0.0.1"),
            "MQTT_PORT": int(self.get("MQTT_PORT", "1883")),
            "MQTT_USER": self.get("MQTT_USER"),
            "MQTT_PASSWORD": self.get("MQTT_PASSWORD"),
            "MQTT_CLIENT_ID": self.get("MQTT_CLIENT_ID", "portal-listener"),
            # Several listeners split a shared subscription; one alone may take a plain one,
            # which Mosquitto keeps across its restarts (it forgets shared ones: README).
            "MQTT_SHARED": _flag(self.environ.get("MQTT_SHARED"), default=True),
            "READINGS_RAW_DAYS": int(self.get("READINGS_RAW_DAYS", "90")),
            "PM10_LIMIT": float(self.get("PM10_LIMIT", "150")),
            "DETECTION_MIN_CONFIDENCE": float(self.get("DETECTION_MIN_CONFIDENCE", "0.6")),
            "ALARM_ESCALATE_MINUTES": int(self.get("ALARM_ESCALATE_MINUTES", "30")),
            "GEOFENCE_M": float(self.get("GEOFENCE_M", "300")),
            # A phone's position counts as measured on site only if its fix time is this close
            # to when it reached the office; a photo's EXIF time this close to the visit.
            "POSITION_MAX_AGE_S": int(self.get("POSITION_MAX_AGE_S", "600")),
            "PHOTO_TIME_WINDOW_MIN": int(self.get("PHOTO_TIME_WINDOW_MIN", "120")),
            "NEARBY_RADIUS_M": float(self.get("NEARBY_RADIUS_M", "50")),
            # The district's administrative code: the start of every facility code (部件编码).
            "FACILITY_DISTRICT_CODE": self.get("FACILITY_DISTRICT_CODE", "330105"),
            # The report form offers the facilities of the category's type this close to the
            # pin; a named facility may be at most FACILITY_ATTACH_RADIUS_M from it.
            "FACILITY_NEARBY_RADIUS_M": float(self.get("FACILITY_NEARBY_RADIUS_M", "150")),
            "FACILITY_ATTACH_RADIUS_M": float(self.get("FACILITY_ATTACH_RADIUS_M", "200")),
            # A facility is a "repeat" one with this many cases within this many days.
            "FACILITY_REPEAT_COUNT": int(self.get("FACILITY_REPEAT_COUNT", "3")),
            "FACILITY_REPEAT_DAYS": int(self.get("FACILITY_REPEAT_DAYS", "90")),
            # Grid hotspots: a cell's week against the mean of its past weeks (Poisson test).
            "HOTSPOT_BASELINE_WEEKS": int(self.get("HOTSPOT_BASELINE_WEEKS", "8")),
            "HOTSPOT_MIN_COUNT": int(self.get("HOTSPOT_MIN_COUNT", "3")),
            "HOTSPOT_ALPHA": float(self.get("HOTSPOT_ALPHA", "0.001")),
            # 回头看: the share of cases closed 30-90 days before, and of accepted works,
            # checked again on site each month.
            "FOLLOWUP_SHARE": float(self.get("FOLLOWUP_SHARE", "0.1")),
            # Where reports are accepted: a GeoJSON polygon (a file path, or the GeoJSON
            # itself); empty: the union of the district zones; no districts either: anywhere.
            "SERVICE_AREA": service_area,
            # Outside the area but this close to it, the refusal names the nearest district.
            "SERVICE_AREA_MARGIN_KM": float(self.get("SERVICE_AREA_MARGIN_KM", "2")),
            "DESCRIPTION_MAX": 2000,
            # What an adopted suggestion earns its resident (the office's rewards).
            "SUGGESTION_POINTS": int(self.get("SUGGESTION_POINTS", "5")),
            # Reporters' contacts and other personal data are erased this long after use.
            "PERSONAL_DATA_RETENTION_DAYS": int(self.get("PERSONAL_DATA_RETENTION_DAYS", "730")),
            # How long the link that confirms an erasure request stays valid.
            "PRIVACY_LINK_HOURS": int(self.get("PRIVACY_LINK_HOURS", "24")),
            # How long a mailed password reset link, and a new account's set-password link, last.
            "PASSWORD_RESET_MINUTES": int(self.get("PASSWORD_RESET_MINUTES", "60")),
            "ACCOUNT_LINK_DAYS": int(self.get("ACCOUNT_LINK_DAYS", "7")),
        }
