"""Event feeds and webhook endpoints, routed on the partner's and the customer's blueprints."""
