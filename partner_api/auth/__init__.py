"""Who is calling: access tokens, signing keys, portal sessions, the principal
a request acts as (and the data scope it enters), and the security headers."""
