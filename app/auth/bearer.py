"""Strict parsing of the ``Authorization: Bearer <credential>`` header (RFC 6750 §2.1).

Only the exact form ``Bearer`` + one space + one ``b64token`` is accepted. Anything looser is
refused rather than repaired, because every leniency is a way for two different header values
to mean the same credential, or for a hostile value to reach the verifiers.
"""

from __future__ import annotations

import re
from typing import Final

from app.auth.errors import AuthError, ReasonCode

__all__ = ["MAX_AUTHORIZATION_HEADER_BYTES", "extract_bearer"]

MAX_AUTHORIZATION_HEADER_BYTES: Final = 8192
"""Largest Authorization header considered at all. Real access tokens are a few KiB."""

_SCHEME: Final = "Bearer"
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
# RFC 9110 §5.6.2 token: what another auth-scheme name looks like.
_HTTP_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", re.ASCII)


def extract_bearer(header: str | None) -> str:
    """Return the credential from an ``Authorization`` header value, or raise :class:`AuthError`.

    Refusals, checked in this order:

    - ``None`` or ``""``: ``missing_credential``.
    - more than 8192 bytes (UTF-8): ``header_too_large``. Checked before any parsing so the
      cost of a hostile header is bounded.
    - a well-formed scheme name other than ``Bearer`` (``Basic``, ``DPoP``, ...):
      ``unsupported_scheme``.
    - everything else that is not exactly ``Bearer <b64token>``: ``malformed_credential``.
      That includes ``bearer``/``BEARER``, two spaces, a tab, leading or trailing
      whitespace, two credentials, commas, and characters outside the b64token grammar.

    The scheme is matched case-sensitively on purpose, although RFC 9110 calls scheme names
    case-insensitive. Every MCP client and OAuth library sends ``Bearer`` exactly; a
    different casing comes from hand-made or fuzzing requests, and the project's
    hostile-credential table treats it as a refusal. Accepting only one spelling also means
    one credential maps to one header value, which keeps the API Gateway authorizer cache
    (keyed on the raw header) from holding several entries for the same token.
    """
    if header is None or header == "":
        raise AuthError(ReasonCode.MISSING_CREDENTIAL)
    # A character is at least one UTF-8 byte, and exactly one when ASCII: encode only when
    # neither length test already settles it.
    if len(header) > MAX_AUTHORIZATION_HEADER_BYTES or (
        not header.isascii() and len(header.encode("utf-8", "surrogatepass")) > MAX_AUTHORIZATION_HEADER_BYTES
    ):
        raise AuthError(ReasonCode.HEADER_TOO_LARGE)

    scheme, space, credential = header.partition(" ")
    if scheme != _SCHEME:
        if space and _HTTP_TOKEN.fullmatch(scheme) and scheme.lower() != _SCHEME.lower():
            raise AuthError(ReasonCode.UNSUPPORTED_SCHEME)
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL)
    if _B64TOKEN.fullmatch(credential) is None:
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL)
    return credential
