"""Running the service: support lookups, sweeping, idempotency, health and totals."""
