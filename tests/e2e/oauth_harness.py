"""Run a local stack for the OAuth end-to-end tests, in its own process, with test-only options.

`python -m tests.e2e.oauth_harness --state-dir DIR [--cimd-ca CA.pem] [--auto-approve]` starts
the stack `make dev` runs, plus what only tests may ask for, as `LocalStackOptions` (never
environment variables, so no deployed function can be talked into them):

- `--cimd-ca`: the front trusts this CA when it fetches a client ID metadata document, and may
  fetch one from a loopback address (the tests serve documents over https on 127.0.0.1);
- `--auto-approve`: the dev issuer's sign-in page approves at once, so a headless client logs in;
- `--tool-module NAME` (repeatable): a test fixtures module registered on this stack only
  (`LocalStackOptions.extra_tool_modules`), such as the inspector tests' probe widget;
- `--authorizer-ttl SECONDS`: the authorizer cache TTL (default 0, as deployed by default);
- `--sso SETTING=VALUE` (repeatable; SSO_PROVIDER, SSO_ATTRIBUTES, SSO_ONLY): the dev issuer federates
  to the stand-in corporate provider, as `make dev` does with those settings in its environment.

The stack writes `credentials.json` into DIR once it serves (the ready file the tests wait for).
SIGUSR1 disables the dev user at the dev issuer and SIGUSR2 enables it again (then the file
`user-disabled` or `user-enabled` appears in DIR): how a test makes the upstream refuse a user, as
an administrator disabling someone in Cognito would.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

DEV_USER = "dev-user"


def serve(
    state_dir: Path,
    cimd_ca: Path | None,
    auto_approve: bool,
    sso: dict[str, str],
    tool_modules: Sequence[str] = (),
    authorizer_ttl: float = 0,
) -> None:
    from devtools.local_stack import LocalStack, LocalStackOptions
    from infra.sso_settings import parse_sso_settings

    options = LocalStackOptions(
        port=0,
        state_dir=state_dir,
        cimd_trusted_ca=cimd_ca,
        auto_approve_login=auto_approve,
        extra_tool_modules=tuple(tool_modules),
        authorizer_ttl_seconds=authorizer_ttl,
        sso=parse_sso_settings(lambda name: sso.get(name) or None, deployed=False),
        # Small, so a registration flood test reaches the limit quickly and the API key store and
        # settings caches never hide what a test changed.
        config_cache_seconds=1,
        api_keys_cache_seconds=1,
    )
    stack = LocalStack(options, progress=lambda text: print(text, flush=True))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stack.start()
        issuer = stack.issuer
        assert issuer is not None  # set by start()

        def disable(*_: object) -> None:
            issuer.disable_user(DEV_USER)
            (state_dir / "user-enabled").unlink(missing_ok=True)
            (state_dir / "user-disabled").touch()

        def enable(*_: object) -> None:
            issuer.enable_user(DEV_USER)
            (state_dir / "user-disabled").unlink(missing_ok=True)
            (state_dir / "user-enabled").touch()

        signal.signal(signal.SIGUSR1, disable)
        signal.signal(signal.SIGUSR2, enable)
        print("oauth test stack ready", flush=True)
        while not stopped.wait(0.2):  # a short wait, so the signal handlers run promptly
            pass
    finally:
        stack.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", required=True, type=Path, help="where the stack writes its state")
    parser.add_argument("--cimd-ca", type=Path, default=None, help="a CA (PEM) the front trusts for CIMD")
    parser.add_argument("--auto-approve", action="store_true", help="the dev issuer approves sign-in at once")
    parser.add_argument("--sso", action="append", default=[], help="an SSO_* setting, NAME=VALUE")
    parser.add_argument("--tool-module", action="append", default=[], help="a fixtures module to register")
    parser.add_argument("--authorizer-ttl", type=float, default=0, help="the authorizer cache TTL, seconds")
    args = parser.parse_args(argv)
    sso = dict(item.partition("=")[::2] for item in args.sso)
    serve(args.state_dir, args.cimd_ca, args.auto_approve, sso, args.tool_module, args.authorizer_ttl)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
