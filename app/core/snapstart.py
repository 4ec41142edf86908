"""Lambda SnapStart: what must not survive a snapshot is refreshed after a restore.

With SnapStart the module-level work of a cold start (imports, settings, the server) runs once
when a version is published, and every new container resumes from that memory snapshot. Most
of it is safe to share; some of it is not:

- cached settings, secrets, the API key store and JWKS signing keys: they may have changed
  since the snapshot (a rotated secret, a revoked key, a new signing key), so they are
  dropped and fetched again on first use;
- AWS SDK clients and their connection pools: sockets do not survive a snapshot, so the
  clients are recreated on first use;
- the `random` module's state: every restored container would otherwise draw the same
  sequence (`secrets` and `uuid4` read the OS and need nothing).

The hooks are registered with `snapshot_restore_py`, which the Lambda Python runtime provides.
Where it is not importable (local runs, tests without it) there is nothing to register.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def register_after_restore(hook: Callable[[], None]) -> bool:
    """Run `hook` after every SnapStart restore; False where SnapStart hooks are unavailable."""
    try:
        from snapshot_restore_py import register_after_restore as register
    except ImportError:
        return False
    register(hook)
    return True


def reseed_random() -> None:
    random.seed()
