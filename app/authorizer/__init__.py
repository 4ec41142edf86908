"""The authorizer Lambda: the REQUEST-authorizer handler and its gatekeeper (who may call what)."""
