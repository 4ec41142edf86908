"""Authentication for the authorizer Lambda: pure logic, no Lambda event shapes.

Everything in this package runs inside the authorizer, whose cold start is paid on the first
request of every new container. Modules therefore import only the standard library, ``jwt`` and
``cryptography``; nothing here imports boto3, mcp or starlette (AWS access lives in ``app.core``).

Modules:

- ``errors``: :class:`~app.auth.errors.ReasonCode` and :class:`~app.auth.errors.AuthError`.
- ``principal``: the authenticated caller and its authorizer-context round trip.
- ``bearer``: strict parsing of the ``Authorization`` header.
- ``jwt_settings`` / ``jwks`` / ``jwt_verifier``: OAuth access-token verification.
- ``api_keys``: API key format, hashing, the key store document and its verifier.
- ``authenticator``: the one entry point the authorizer handler calls.

This ``__init__`` deliberately re-exports nothing, so importing one module does not pull in
the others (an API-key-only deployment never needs to import ``jwt``).
"""
