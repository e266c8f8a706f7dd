"""Fixtures shared by the HTTP contract tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def pair(world):
    """A partner and a customer tenant with an approved relationship."""
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    return partner, tenant
