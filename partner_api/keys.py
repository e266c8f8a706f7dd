"""The JWT signing key: from configuration, or generated on first run and kept
in the instance folder (development)."""

from __future__ import annotations

import os
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

    def verification_keys(self) -> KeySet:
        return KeySet.import_key_set({"keys": [self.public_jwk()]})


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
