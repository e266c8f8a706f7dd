"""Registering devices: orders, chunk processing, ownership claims, devices."""
