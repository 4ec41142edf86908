"""Typed settings read from the environment, with safe defaults and errors that say how to fix.

Every name read here is listed in `.env.example`. A malformed value stops the cold start with
a `ConfigurationError` that names the variable and the expected form; the value itself is never
echoed, because some settings may hold material that should not reach a log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; the message names it and says how to fix it."""


def read_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number (see .env.example)") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum} (see .env.example)")
    return value


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false (see .env.example)")


def read_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list; blanks dropped, order kept."""
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class HttpSettings:
    """What the MCP Lambda's HTTP layer enforces before the SDK sees a request."""

    allowed_origins: frozenset[str] = frozenset()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HttpSettings:
        env = os.environ if env is None else env
        origins = read_list(env, "ALLOWED_ORIGINS")
        for origin in origins:
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ConfigurationError(
                    "ALLOWED_ORIGINS entries must be origins like https://app.example.com "
                    "(scheme and host, no path), comma separated"
                )
        return cls(
            allowed_origins=frozenset(origins),
            max_body_bytes=read_int(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1024),
        )
