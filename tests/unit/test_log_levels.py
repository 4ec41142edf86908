"""Log levels: the app's own lines follow POWERTOOLS_LOG_LEVEL; botocore never logs bodies."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.core.config import ConfigurationError
from app.core.log_levels import apply_log_levels


@pytest.fixture(autouse=True)
def _restore_levels() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("app", "botocore")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def test_the_app_loggers_follow_the_setting() -> None:
    apply_log_levels({"POWERTOOLS_LOG_LEVEL": "warning"})
    assert not logging.getLogger("app.authorizer.gatekeeper").isEnabledFor(logging.INFO)
    assert logging.getLogger("app.authorizer.gatekeeper").isEnabledFor(logging.WARNING)
    apply_log_levels({})
    assert logging.getLogger("app.tools.upstream").isEnabledFor(logging.INFO)


def test_botocore_never_logs_bodies_even_at_debug() -> None:
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    apply_log_levels({"POWERTOOLS_LOG_LEVEL": "DEBUG"})
    assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)


def test_an_unknown_level_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="POWERTOOLS_LOG_LEVEL must be one of DEBUG, INFO"):
        apply_log_levels({"POWERTOOLS_LOG_LEVEL": "LOUD"})
