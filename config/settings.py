"""Settings from environment variables, with defaults that run on a fresh machine.

Every variable is documented in the README's configuration table; keep the two
in step. Nothing else in the project reads os.environ for configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

DEFAULT_RATE_LIMITS = {
    "partner": "600 per minute",
    "tenant": "600 per minute",
    "support": "600 per minute",
    "supplier": "120 per minute",
    "anonymous": "120 per minute",
    # Portal sign-in attempts per address and account, on top of the anonymous limit.
    "sign_in": "10 per minute",
    # Failed sign-ins or token requests for one account (portal address, client ID)
    # from all addresses together: a burst this size, then one per period/count
    # (partner_api/failed_attempts.py). It delays guessing; it never locks anyone out.
    "account_failures": "60 per hour",
}


# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h.
DEFAULT_WEBHOOK_RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _delays(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError as exc:
        raise SystemExit(
            f"configuration: {name} must be seconds separated by commas, got {raw!r}"
        ) from exc
    if any(delay < 0 for delay in delays):
        raise SystemExit(f"configuration: {name} must not hold negative seconds, got {raw!r}")
    return delays


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"configuration: {name} must be a whole number, got {raw!r}") from exc


def default_instance_path() -> Path:
    return Path(os.environ.get("INSTANCE_PATH") or Path.cwd() / "instance").resolve()


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    # Empty means the embedded default: SQLite file / embedded Redis in the instance folder.
    database_url: str
    redis_url: str
    jwt_private_key_file: Path
    # Signs portal session cookies; generated on first run when the file is missing.
    portal_secret_key_file: Path
    jwt_issuer: str
    jwt_audience: str
    token_lifetime_seconds: int
    order_chunk_size: int
    max_order_rows: int
    max_upload_bytes: int
    # Longest group tag accepted; which tags a tenant accepts is its own choice.
    group_tag_max_length: int = 128
    log_level: str = "INFO"
    idempotency_ttl_seconds: int = 24 * 3600
    sweep_interval_seconds: int = 60
    pending_deadline_seconds: int = 300
    # Workers run at this niceness (0-19): on a machine they share with the
    # API, a person's request takes the CPU before a chunk does.
    worker_nice: int = 10
    # How long a partner that was declined or revoked waits before asking that customer again.
    relationship_ask_again_hours: int = 24
    # principal kind (or "anonymous") -> limit, e.g. "600 per minute"
    rate_limits: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    portal_session_hours: int = 8
    # Send the portal's cookie over HTTPS only (set it when served behind TLS).
    portal_cookie_secure: bool = False
    # How many proxies (load balancers) in front of the service append to
    # X-Forwarded-For and set X-Forwarded-Proto; 0 trusts neither header.
    trusted_proxy_hops: int = 0
    # The bearer token Prometheus sends to GET /metrics; empty: /metrics is not served.
    metrics_token: str = ""
    # How long one computation of the totals /metrics reports is reused.
    metrics_cache_seconds: int = 5
    # Development and tests only: webhook URLs may be http and local or private addresses.
    webhook_allow_private: bool = False
    # Seconds before each retry of a failed webhook delivery (about 24 hours in all).
    webhook_retry_delays: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS
    # A receiver must answer 2xx within this many seconds.
    webhook_timeout_seconds: int = 10
    # An endpoint failing without a success for this long is disabled.
    webhook_disable_after_hours: int = 72

    @property
    def relationship_ask_again_after(self) -> timedelta:
        return timedelta(hours=self.relationship_ask_again_hours)

    @property
    def webhook_disable_after(self) -> timedelta:
        return timedelta(hours=self.webhook_disable_after_hours)

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    @classmethod
    def from_env(cls) -> Settings:
        instance = default_instance_path()
        database_url = os.environ.get("DATABASE_URL", "").strip()
        if not database_url:
            database_url = f"sqlite:///{instance / 'partner-api.sqlite3'}"
        elif database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
            # Use the psycopg 3 driver the project installs.
            database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
        key_file = os.environ.get("JWT_PRIVATE_KEY_FILE", "").strip()
        portal_key_file = os.environ.get("PORTAL_SECRET_KEY_FILE", "").strip()
        return cls(
            instance_path=instance,
            database_url=database_url,
            redis_url=os.environ.get("REDIS_URL", "").strip(),
            jwt_private_key_file=Path(key_file) if key_file else instance / "jwt-signing-key.pem",
            jwt_issuer=os.environ.get("JWT_ISSUER", "").strip() or "urn:partner-api",
            jwt_audience=os.environ.get("JWT_AUDIENCE", "").strip() or "urn:partner-api:v1",
            token_lifetime_seconds=_int("TOKEN_LIFETIME_SECONDS", 3600),
            order_chunk_size=_int("ORDER_CHUNK_SIZE", 1000),
            max_order_rows=_int("MAX_ORDER_ROWS", 100_000),
            max_upload_bytes=_int("MAX_UPLOAD_BYTES", 512 * 1024 * 1024),
            group_tag_max_length=_int("GROUP_TAG_MAX_LENGTH", 128),
            log_level=os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
            # Never under the 24 hours clients are promised.
            idempotency_ttl_seconds=max(24 * 3600, _int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)),
            sweep_interval_seconds=_int("SWEEP_INTERVAL_SECONDS", 60),
            worker_nice=min(19, max(0, _int("WORKER_NICE", 10))),
            pending_deadline_seconds=_int("PENDING_DEADLINE_SECONDS", 300),
            relationship_ask_again_hours=_int("RELATIONSHIP_ASK_AGAIN_HOURS", 24),
            rate_limits={
                kind: os.environ.get(f"RATE_LIMIT_{kind.upper()}", "").strip() or default
                for kind, default in DEFAULT_RATE_LIMITS.items()
            },
            portal_secret_key_file=(
                Path(portal_key_file) if portal_key_file else instance / "portal-secret-key"
            ),
            portal_session_hours=_int("PORTAL_SESSION_HOURS", 8),
            portal_cookie_secure=os.environ.get("PORTAL_COOKIE_SECURE", "").strip().lower()
            in ("1", "true", "yes"),
            trusted_proxy_hops=max(0, _int("TRUSTED_PROXY_HOPS", 0)),
            metrics_token=os.environ.get("METRICS_TOKEN", "").strip(),
            metrics_cache_seconds=max(0, _int("METRICS_CACHE_SECONDS", 5)),
            webhook_allow_private=_flag("WEBHOOK_ALLOW_PRIVATE"),
            webhook_retry_delays=_delays("WEBHOOK_RETRY_DELAYS", DEFAULT_WEBHOOK_RETRY_DELAYS),
            webhook_timeout_seconds=max(1, _int("WEBHOOK_TIMEOUT_SECONDS", 10)),
            webhook_disable_after_hours=max(1, _int("WEBHOOK_DISABLE_AFTER_HOURS", 72)),
        )
