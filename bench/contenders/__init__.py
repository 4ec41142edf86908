"""The contenders: one file each, each exposing `handler(event, context)` and the same `add` tool.

The files are loaded by path inside their own virtualenv (see `bench/worker.py`), never
imported from here; the package exists so the type checker sees them as `bench.contenders.*`.
"""
