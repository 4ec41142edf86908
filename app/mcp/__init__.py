"""The MCP Lambda: the Mangum handler, the HTTP edge (checks, challenges, PRM), per-tool scopes, the
fast path and its audit."""
