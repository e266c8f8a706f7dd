"""One POST to a webhook receiver, bounded in every way.

- Connects only to addresses ``addresses.resolve`` allowed, and checks the
  address the socket really connected to before a byte is sent (DNS
  rebinding cannot lead inside);
- HTTPS is verified against the URL's host name (SNI and certificate);
- redirects are never followed (``http.client`` does not), so a 3xx is
  simply a failed attempt;
- the whole exchange has one time budget, and only the first
  ``MAX_RESPONSE_BYTES`` of the answer are read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from tenants.events import addresses

MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class Result:
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection to one vetted address, for the URL's host."""

    def __init__(
        self, target: addresses.Target, address: str, *, timeout: float, allow_private: bool
    ):
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target
        self._address = address
        self._allow_private = allow_private

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            peer = str(sock.getpeername()[0])
            if not addresses.allowed(peer, allow_private=self._allow_private):
                raise addresses.AddressRefused(
                    f"The connection reached {peer}, which is not a public address."
                )
            if self._target.scheme == "https":
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self._target.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> Result:
    started = time.monotonic()

    def result(status: int | None, error: str | None, text: str | None = None) -> Result:
        return Result(status, int((time.monotonic() - started) * 1000), error, text)

    try:
        target = addresses.parse(url, allow_private=allow_private)
        vetted = addresses.resolve(target, allow_private=allow_private)
    except addresses.AddressRefused as exc:
        return result(None, str(exc))
    connection = _Connection(target, vetted[0], timeout=timeout, allow_private=allow_private)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Content-Type": "application/json", "User-Agent": "partner-api"},
        )
        if connection.sock is not None:
            connection.sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
        response = connection.getresponse()
        text = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
        if time.monotonic() - started > timeout:
            return result(response.status, f"No answer within {timeout:g} seconds.", text)
        if 300 <= response.status < 400:
            return result(response.status, "A redirect, which is not followed.", text)
        if not 200 <= response.status < 300:
            return result(response.status, f"The receiver answered {response.status}.", text)
        return result(response.status, None, text)
    except addresses.AddressRefused as exc:
        return result(None, str(exc))
    except TimeoutError:
        return result(None, f"No answer within {timeout:g} seconds.")
    except ssl.SSLError as exc:
        return result(None, f"TLS failed: {exc.reason or exc}.")
    except (OSError, http.client.HTTPException) as exc:
        return result(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
