"""Running the service: support lookups, sweeping, idempotency."""
