"""JWT signing keys: the current one signs, retired ones still verify.

The current key is a PEM file (``JWT_PRIVATE_KEY_FILE``, generated on first
run in the instance folder). ``partner-api keys rotate`` moves it into the
``<file>.retired/`` folder beside it, named with the time until which it still
verifies (the token lifetime, by default), and writes a new current key. Every
API process notices the change within a second and publishes both keys in
the JWKS, so tokens signed before a rotation keep working until they expire.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from joserfc.jwk import KeySet, RSAKey

SIGNING_ALG = "RS256"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: RSAKey

    def private_jwks(self) -> dict:
        return {"keys": [dict(self.key.as_dict(private=True), kid=self.kid, alg=SIGNING_ALG)]}

    def public_jwk(self) -> dict:
        return dict(self.key.as_dict(private=False), kid=self.kid, alg=SIGNING_ALG, use="sig")


def _generate_pem(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = RSAKey.generate_key(2048).as_pem(private=True)
    # Write privately and atomically: a second process starting at the same
    # moment must never read half a key.
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(tmp, path)  # fails if another process won the race: keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def load_signing_key(path: Path) -> SigningKey:
    if not path.exists():
        _generate_pem(path)
    key = RSAKey.import_key(path.read_bytes())
    return SigningKey(kid=key.thumbprint(), key=key)


def retired_folder(path: Path) -> Path:
    return path.with_name(f"{path.name}.retired")


class KeyRing:
    """The current signing key and the retired keys that still verify.

    Reloaded from disk when the files change (checked at most once a second),
    so a rotation done by the CLI reaches every running process.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp: tuple | None = None
        # The current key, the keys that verify and their set: read by _load.
        self._current: SigningKey
        self._verifying: list[SigningKey]
        self._key_set: KeySet
        self._load()

    def _files_stamp(self) -> tuple:
        folder = retired_folder(self.path)
        retired = sorted(folder.glob("*.pem")) if folder.exists() else []
        return (self.path.stat().st_mtime_ns, tuple(p.name for p in retired))

    def _load(self) -> None:
        current = load_signing_key(self.path)
        verifying = [current]
        folder = retired_folder(self.path)
        now = time.time()
        for pem in sorted(folder.glob("*.pem")) if folder.exists() else []:
            until = int(pem.name.split("-", 1)[0])
            if until > now:
                key = RSAKey.import_key(pem.read_bytes())
                verifying.append(SigningKey(kid=key.thumbprint(), key=key))
        self._current, self._verifying = current, verifying
        self._key_set = KeySet.import_key_set({"keys": [k.public_jwk() for k in verifying]})
        self._stamp = self._files_stamp()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        with self._lock:
            self._checked = now
            try:
                stamp = self._files_stamp()
            except FileNotFoundError:
                return  # mid-rotation: keep the keys we have
            expired = any(int(p.split("-", 1)[0]) <= time.time() for p in stamp[1])
            if stamp != self._stamp or expired:
                self._load()

    @property
    def current(self) -> SigningKey:
        self._refresh()
        return self._current

    def verification_keys(self) -> KeySet:
        self._refresh()
        return self._key_set

    def public_jwks(self) -> dict:
        self._refresh()
        return {"keys": [k.public_jwk() for k in self._verifying]}


def rotate(path: Path, *, grace_seconds: int) -> tuple[str, str]:
    """Retire the current key (it verifies for ``grace_seconds`` more) and
    make a new one current. Returns (retired kid, new kid)."""
    old = load_signing_key(path)
    folder = retired_folder(path)
    folder.mkdir(parents=True, exist_ok=True)
    until = int(time.time()) + max(0, grace_seconds)
    retired = folder / f"{until}-{old.kid}.pem"
    retired.write_bytes(path.read_bytes())
    os.chmod(retired, 0o600)
    # Expired keys are of no use to anyone: drop them.
    for pem in folder.glob("*.pem"):
        if int(pem.name.split("-", 1)[0]) <= time.time() and pem != retired:
            pem.unlink(missing_ok=True)
    tmp = path.with_name(f"{path.name}.new{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(RSAKey.generate_key(2048).as_pem(private=True))
    os.replace(tmp, path)  # atomic: readers see the old key or the new one
    return old.kid, load_signing_key(path).kid
