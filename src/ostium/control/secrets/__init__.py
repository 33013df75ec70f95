"""The built-in secret store: a Barbican Key Manager v1 subset (secrets, certificate
containers, consumers), and what the rest of ostium reads from it.

Modules: `crypto` (the Fernet key and payload encryption at rest), `store` (project-
scoped secrets and containers in the database), `refs` (a ref to an id, which refs live
listeners and pools use), `material` (a ref to TLS material: PKCS12 bundles,
certificate containers, CA certificates and CRLs, with Octavia's checks).

Callers: the `/v1` routes (api), the listener and pool services (ref checks at the API),
the worker (refs resolved into PEM for the agent). Payloads never reach a log line, an
error message or a heartbeat; only `crypto` ever sees them unencrypted on their way in
and `material` on their way out.
"""
