"""Log levels for both Lambdas, set once at import by each entry point.

- The functions' own log lines (the `app.*` loggers: configuration errors, refused requests,
  upstream failures) follow `POWERTOOLS_LOG_LEVEL`, default `INFO`. The audit trail is not a
  log line in this sense: `app.core.audit` writes it whatever the level.
- botocore logs whole request and response bodies at DEBUG, so reading a secret (the API key
  store, the upstream credential) would write its value to the log if the root level is DEBUG:
  botocore stays at INFO or quieter whatever the root level.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Final

from app.core.config import ConfigurationError

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def apply_log_levels(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    level = (env.get("POWERTOOLS_LOG_LEVEL") or "INFO").strip().upper()
    if level not in LEVELS:
        raise ConfigurationError(
            f"POWERTOOLS_LOG_LEVEL must be one of {', '.join(LEVELS)} (see .env.example)"
        )
    logging.getLogger("app").setLevel(level)
    botocore = logging.getLogger("botocore")
    botocore.setLevel(max(botocore.level, logging.INFO))
