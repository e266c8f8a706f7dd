"""Failed sign-ins and token requests per account, from every source together.

The limits in partner_api/rate_limits.py count attempts per account *and*
source (address), so one source that guesses is stopped without touching
anyone else. This backstop covers many sources guessing one account (a
portal address or an API client ID) together, and must not let a stranger
lock the owner out, so it delays rather than locks: the account takes a burst
of failures (the count of ``RATE_LIMIT_ACCOUNT_FAILURES``), then one more
failed attempt per interval (its period divided by its count). However long
the guessing goes on, anyone waits at most one interval for a try.

Only failures count. An attempt made while the account must wait is refused
(429 with ``Retry-After``) before any password is checked, so guessing gets
no faster by sending more. The state is one number per account in Redis
(the time the next failure is due, as in the generic cell rate algorithm),
taken from the Redis clock, so every API process shares it. Redis
unreachable: attempts go through, as with the other rate limits.
"""

from __future__ import annotations

import hashlib
import logging
import math

from flask import Flask, Response, current_app, g
from limits import parse
from redis import Redis
from redis.exceptions import RedisError

from jobs.connection import connect
from partner_api.errors import ApiError

log = logging.getLogger(__name__)

# KEYS[1]: the account. ARGV: mode ("check" or "fail"), interval and tolerance
# in milliseconds. Answers the milliseconds to wait before the next attempt.
_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
if due < now then due = now end
local interval, tolerance = tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[1] == 'fail' then
  due = due + interval
  redis.call('SET', KEYS[1], tostring(due), 'PX', due - now + 1000)
end
local wait = due - tolerance - now
if wait < 0 then wait = 0 end
return wait
"""


class FailureBackstop:
    """Failures of one kind of account (``namespace``: "sign-in", "client")."""

    def __init__(self, connection: Redis, limit: str, namespace: str) -> None:
        item = parse(limit)
        period_ms = item.get_expiry() * 1000
        self.interval_ms = max(1, period_ms // item.amount)
        # A burst of ``amount`` failures fits before anyone has to wait.
        self.tolerance_ms = period_ms - self.interval_ms
        self.namespace = namespace
        self._script = connection.register_script(_SCRIPT)

    def _key(self, account: str) -> str:
        digest = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()
        return f"failed-attempts:{self.namespace}:{digest}"

    def _run(self, mode: str, account: str) -> int:
        try:
            keys = [self._key(account)]
            args: list[str | int] = [mode, self.interval_ms, self.tolerance_ms]
            return int(self._script(keys, args))
        except RedisError as exc:
            log.warning("failed-attempt backstop unavailable: %s", type(exc).__name__)
            return 0

    def check(self, account: str) -> None:
        """Raise 429 with ``Retry-After`` while the account must wait."""
        wait_ms = self._run("check", account)
        if wait_ms > 0:
            seconds = math.ceil(wait_ms / 1000)
            g.failed_attempts_wait = seconds
            raise ApiError(
                429,
                "rate_limited",
                "Too many failed attempts for this account, from all sources together. "
                f"Wait {seconds} seconds (Retry-After), then try again.",
                headers={"Retry-After": str(seconds)},
            )

    def record_failure(self, account: str) -> None:
        self._run("fail", account)


def _honest_retry_after(response: Response) -> Response:
    # Flask-Limiter's headers say when its own window resets (up to a minute),
    # which is not how long this account must wait.
    if "failed_attempts_wait" in g:
        response.headers["Retry-After"] = str(g.failed_attempts_wait)
    return response


def init_app(app: Flask) -> None:
    """Call before the rate limiter's ``init_app``: after-request functions run
    in reverse order, so this one runs after the limiter has set its headers."""
    app.after_request(_honest_retry_after)


def backstop(namespace: str) -> FailureBackstop:
    """The backstop for one kind of account, in the current app."""
    settings = current_app.extensions["partner_api.settings"]
    limit = settings.rate_limits["account_failures"]
    backstops = current_app.extensions.setdefault("partner_api.failed_attempts", {})
    if (namespace, limit) not in backstops:
        backstops[namespace, limit] = FailureBackstop(connect(settings), limit, namespace)
    return backstops[namespace, limit]
