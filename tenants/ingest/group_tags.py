"""Group tags: which tags an order's rows may carry, per customer tenant.

By default any tag is taken as given (letter case kept): printable text of at
most ``GROUP_TAG_MAX_LENGTH`` characters (surrounding spaces are trimmed before
this check, like every submitted value). A tenant can instead be held to a
strict list of tags, for example ``MANAGED_DESKTOP_TAGS``, the tags of the
Microsoft Managed Desktop profiles; a refused tag then names the allowed ones.
Operators set a tenant's list with ``partner-api tenants group-tags``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tenants.errors import NotFound
from tenants.models import Tenant
from tenants.texts import N_, Message

#: The group tags of the Microsoft Managed Desktop profiles, one ready strict list.
MANAGED_DESKTOP_TAGS = (
    "Microsoft365Managed_Standard",
    "Microsoft365Managed_Standard-Shared",
    "Microsoft365Managed_SensitiveData",
    "Microsoft365Managed_SensitiveData-Shared",
    "Microsoft365Managed_PowerUser",
    "Microsoft365Managed_Kiosk",
    "Microsoft365Managed_Kiosk-Shared",
)

DEFAULT_MAX_LENGTH = 128
_SEPARATOR = "\n"


@dataclass(frozen=True)
class GroupTagPolicy:
    """The tags one tenant accepts: any (``allowed`` empty) or exactly ``allowed``."""

    allowed: tuple[str, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH

    def problem(self, tag: str | None) -> Message | None:
        """None when ``tag`` is acceptable; else what is wrong, and the right tag."""
        if tag is None:
            return None
        if not tag.isprintable():
            return Message(
                N_("{tag} contains characters that are not printable text"), tag=repr(tag)
            )
        if len(tag) > self.max_length:
            return Message(
                N_("it is {length} characters long; at most {most} are accepted"),
                length=len(tag),
                most=self.max_length,
            )
        if not self.allowed or tag in self.allowed:
            return None
        folded = {a.casefold(): a for a in self.allowed}
        if tag.casefold() in folded:
            return Message(
                N_("{tag} differs from {right} in letter case; use {right}"),
                tag=repr(tag),
                right=repr(folded[tag.casefold()]),
            )
        squashed = {_squash(a): a for a in self.allowed}
        if _squash(tag) in squashed:
            return Message(
                N_("{tag} is not accepted; did you mean {right}?"),
                tag=repr(tag),
                right=repr(squashed[_squash(tag)]),
            )
        return Message(
            N_("{tag} is not accepted for this customer, which allows only: {allowed}"),
            tag=repr(tag),
            allowed=", ".join(self.allowed),
        )


def _squash(tag: str) -> str:
    return re.sub(r"[\s_-]", "", tag.casefold())


def policy_for(
    session: Session, tenant_id: uuid.UUID, *, max_length: int = DEFAULT_MAX_LENGTH
) -> GroupTagPolicy:
    """The group-tag policy of a tenant (any tag when it has no list)."""
    tenant = session.get(Tenant, tenant_id)
    stored = tenant.group_tags if tenant is not None else None
    allowed = tuple(stored.split(_SEPARATOR)) if stored else ()
    return GroupTagPolicy(allowed=allowed, max_length=max_length)


def set_allowed_tags(session: Session, tenant_id: uuid.UUID, allowed: tuple[str, ...]) -> None:
    """Hold a tenant to ``allowed`` (empty: accept any tag again). The caller commits."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(N_("There is no tenant with this ID."))
    cleaned = tuple(dict.fromkeys(tag.strip() for tag in allowed if tag.strip()))
    for tag in cleaned:
        problem = GroupTagPolicy().problem(tag)
        if problem:
            raise ValueError(f"group tag {tag!r} cannot be allowed: {problem}")
    tenant.group_tags = _SEPARATOR.join(cleaned) or None
