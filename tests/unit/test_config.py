"""Settings: safe defaults, and errors that name the setting without echoing its value."""

from __future__ import annotations

import pytest

from app.config import DEFAULT_MAX_BODY_BYTES, ConfigurationError, HttpSettings


def test_defaults_allow_no_origin_and_one_mebibyte() -> None:
    settings = HttpSettings.from_env({})
    assert settings.allowed_origins == frozenset()
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 1024 * 1024


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES"),
        ({"MAX_BODY_BYTES": "7"}, "MAX_BODY_BYTES"),
        ({"ALLOWED_ORIGINS": "https://ok.example,app.example.com/path"}, "ALLOWED_ORIGINS"),
    ],
)
def test_malformed_setting_names_itself(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name) as info:
        HttpSettings.from_env(env)
    for value in env.values():
        assert value not in str(info.value)
