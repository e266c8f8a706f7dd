"""Who may do what: organisations, relationships, API clients, portal users."""
