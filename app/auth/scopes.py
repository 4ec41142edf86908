"""OAuth scope tokens (RFC 6749 §3.3): validation and parsing.

Scopes travel through API Gateway as one space-joined string in the authorizer context, so a
scope must never contain a space: every scope entering a :class:`~app.auth.principal.Principal`
is checked against the RFC 6749 ``scope-token`` grammar here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["is_scope_token", "split_scope_string", "validate_scopes"]

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): printable ASCII except space, '"' and '\'.
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def is_scope_token(value: object) -> bool:
    """True if ``value`` is a string that is one RFC 6749 scope token."""
    return isinstance(value, str) and _SCOPE_TOKEN.fullmatch(value) is not None


@functools.lru_cache(maxsize=256)
def split_scope_string(value: str) -> frozenset[str]:
    """Split a space-delimited scope string; raise ``ValueError`` on an invalid token.

    Runs of spaces are tolerated (some issuers emit them); any other whitespace or a
    character outside the scope-token grammar is an error, not something to guess around.
    Cached (the result is immutable): a deployment sees a handful of distinct scope strings,
    and both Lambdas parse one on every request.
    """
    tokens = [token for token in value.split(" ") if token]
    return validate_scopes(tokens)


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Return the scopes as a frozenset, or raise ``ValueError`` if one is not a scope token."""
    result = frozenset(scopes)
    _check_scope_set(result)
    return result


@functools.lru_cache(maxsize=256)
def _check_scope_set(scopes: frozenset[str]) -> None:
    # Cached per set: a valid set stays valid; an invalid one raises and is not remembered.
    for scope in scopes:
        if not is_scope_token(scope):
            raise ValueError("invalid scope token (RFC 6749 §3.3: printable ASCII, no space, '\"' or '\\')")
