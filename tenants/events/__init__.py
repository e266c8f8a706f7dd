"""What happened, told: the outbox of events, the feeds, webhook endpoints and their deliveries."""
