"""Orders at the edge, for partners, customers and the portal: submitting
one (submission.py), reading them (routes.py), their schemas (schemas.py)."""
