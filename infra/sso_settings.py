"""SSO: the settings that federate the Cognito user pool with a company's identity provider.

Read by the CDK app (`infra/config.py`, at synth) and by the local stack (`devtools/cli.py`, for
`make dev`), so both read the same names with the same rules. Standard library only: the local
stack imports this without the CDK.

The three settings a company needs:

- `SSO_PROVIDER`: `oidc:<Name>` or `saml:<Name>`. The name is what Cognito calls the provider
  (the button on its sign-in page, the `identity_provider` parameter, the prefix of federated user
  names `<Name>_<subject>`). Empty: no federation.
- `SSO_METADATA`: OIDC: the issuer URL, exactly the `iss` of the provider's ID tokens; SAML: the
  https URL of the provider's metadata document, or the path of a metadata XML file (Google
  Workspace offers only a download).
- `SSO_CLIENT`: OIDC only: the NAME of an existing Secrets Manager secret holding
  `{"client_id": "...", "client_secret": "..."}`; the template holds only dynamic references to it.

And two options: `SSO_ATTRIBUTES` (`<pool attribute>=<provider attribute>` pairs, merged over the
default email mapping; `custom:tenant=<attribute>` maps the tenant), `SSO_SCOPES` (OIDC scopes),
`SSO_ONLY` (drop Cognito's own users from the app clients: everyone signs in at the provider).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

ProviderType = Literal["oidc", "saml"]

# The user pool's tenant attribute: what the tenants feature reads from Cognito's ID tokens.
TENANT_ATTRIBUTE: Final = "custom:tenant"
TENANT_ATTRIBUTE_MAX_LENGTH: Final = 256

# Pool attributes a provider attribute may be mapped to: the OpenID Connect standard claims Cognito
# keeps as standard attributes (https://docs.aws.amazon.com/cognito/latest/developerguide/
# user-pool-settings-attributes.html), and the one custom attribute the stack defines.
STANDARD_ATTRIBUTES: Final = frozenset(
    {
        "address",
        "birthdate",
        "email",
        "email_verified",
        "family_name",
        "gender",
        "given_name",
        "locale",
        "middle_name",
        "name",
        "nickname",
        "phone_number",
        "phone_number_verified",
        "picture",
        "preferred_username",
        "profile",
        "updated_at",
        "website",
        "zoneinfo",
    }
)
POOL_ATTRIBUTES: Final = STANDARD_ATTRIBUTES | {TENANT_ATTRIBUTE}

# Where the email comes from unless SSO_ATTRIBUTES says otherwise: the OIDC `email` claim, and for
# SAML the claim URI Entra ID and AD FS send (Okta and Google send the name you give it).
DEFAULT_EMAIL_SOURCE: Final[Mapping[ProviderType, str]] = {
    "oidc": "email",
    "saml": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
}
DEFAULT_OIDC_SCOPES: Final = ("openid", "email", "profile")

# Names Cognito gives its own and its social providers: a custom provider cannot take them.
_RESERVED_NAMES: Final = frozenset({"cognito", "google", "facebook", "loginwithamazon", "signinwithapple"})
# Cognito allows 3-32 characters without leading `_` or spaces; this is stricter on purpose: the
# name becomes the prefix of federated user names (`<Name>_<subject>`), so no `_` at all.
_PROVIDER_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{1,30}[A-Za-z0-9]$")
_SECRET_NAME: Final = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
# A provider attribute: an OIDC claim name or a SAML attribute name (often a URI).
_PROVIDER_ATTRIBUTE: Final = re.compile(r"^[^\s,=\"\\]{1,256}$")
_SCOPE: Final = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,256}$")
SETTING_NAMES: Final = (
    "SSO_PROVIDER",
    "SSO_METADATA",
    "SSO_CLIENT",
    "SSO_ATTRIBUTES",
    "SSO_SCOPES",
    "SSO_ONLY",
)


class SsoSettingError(ValueError):
    """A malformed SSO setting; the message names it and says how to fix it."""


@dataclass(frozen=True)
class SsoSettings:
    """A validated federation: one corporate provider for the Cognito pool."""

    provider_type: ProviderType
    provider_name: str
    # OIDC: the issuer URL. SAML: the metadata URL ("" when `metadata_file` is set). Local: "".
    metadata_url: str = ""
    # SAML only: a metadata XML file, read at synth.
    metadata_file: Path | None = None
    # OIDC only: the Secrets Manager secret holding client_id and client_secret. Local: "".
    client_secret_name: str = ""
    # Pool attribute -> provider attribute (defaults merged in).
    attributes: Mapping[str, str] = field(default_factory=dict)
    scopes: tuple[str, ...] = DEFAULT_OIDC_SCOPES
    only: bool = False

    @property
    def maps_tenant(self) -> bool:
        return TENANT_ATTRIBUTE in self.attributes


Raw = Callable[[str], "str | None"]


def parse_sso_settings(
    raw: Raw, *, deployed: bool = True, base_dir: Path | None = None
) -> SsoSettings | None:
    """The federation the settings describe, or None when `SSO_PROVIDER` is empty.

    `raw(name)` is the setting's text or None when unset or empty. `deployed=False` (the local
    stack) does not ask for `SSO_METADATA` and `SSO_CLIENT`: `make dev` federates to a stand-in
    provider it starts itself. A relative SAML metadata path is read from `base_dir`.
    """
    spec = raw("SSO_PROVIDER")
    if spec is None:
        # `SSO_ONLY=false` is what .env.example says: only a setting that would do something is stray.
        stray = [
            name
            for name in SETTING_NAMES[1:]
            if raw(name) is not None and not (name == "SSO_ONLY" and not _boolean(raw(name), name))
        ]
        if stray:
            raise SsoSettingError(
                f"{stray[0]} is set but SSO_PROVIDER is empty: set SSO_PROVIDER=oidc:<Name> or saml:<Name> "
                f"to federate the user pool, or remove {', '.join(stray)}"
            )
        return None
    provider_type, name = _provider(spec)
    attributes = _attributes(raw("SSO_ATTRIBUTES"), provider_type)
    scopes = _scopes(raw("SSO_SCOPES"), provider_type)
    only = _boolean(raw("SSO_ONLY"), "SSO_ONLY")
    metadata_url, metadata_file, client = "", None, ""
    if deployed:
        metadata_url, metadata_file = _metadata(raw("SSO_METADATA"), provider_type, base_dir)
        client = _client(raw("SSO_CLIENT"), provider_type)
    return SsoSettings(
        provider_type=provider_type,
        provider_name=name,
        metadata_url=metadata_url,
        metadata_file=metadata_file,
        client_secret_name=client,
        attributes=attributes,
        scopes=scopes,
        only=only,
    )


def _provider(spec: str) -> tuple[ProviderType, str]:
    kind, colon, name = spec.partition(":")
    kind = kind.strip().lower()
    name = name.strip()
    if not colon or kind not in ("oidc", "saml"):
        raise SsoSettingError(
            "SSO_PROVIDER must be oidc:<Name> or saml:<Name>, e.g. SSO_PROVIDER=oidc:Entra or saml:Okta"
        )
    if not _PROVIDER_NAME.match(name):
        raise SsoSettingError(
            "SSO_PROVIDER: the name after the colon must be 3-32 letters, digits, '.' or '-' (no '_', "
            "which Cognito puts between the name and the user in federated user names), e.g. oidc:Entra"
        )
    if name.lower() in _RESERVED_NAMES:
        raise SsoSettingError(
            f"SSO_PROVIDER: {name!r} is a name Cognito reserves for its own providers; choose another, "
            "e.g. oidc:GoogleWorkspace"
        )
    return ("oidc" if kind == "oidc" else "saml"), name


def _attributes(text: str | None, provider_type: ProviderType) -> dict[str, str]:
    mapping = {"email": DEFAULT_EMAIL_SOURCE[provider_type]}
    if text is None:
        return mapping
    seen: set[str] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        pool, equals, source = (piece.strip() for piece in item.partition("="))
        if not equals or not pool or not source:
            raise SsoSettingError(
                "SSO_ATTRIBUTES must be <pool attribute>=<provider attribute> pairs separated by commas, "
                "e.g. SSO_ATTRIBUTES=email=email,custom:tenant=tid"
            )
        if pool not in POOL_ATTRIBUTES:
            raise SsoSettingError(
                f"SSO_ATTRIBUTES: {pool[:40]!r} is not a user pool attribute the stack has; use a standard "
                f"attribute ({', '.join(sorted(STANDARD_ATTRIBUTES))}) or {TENANT_ATTRIBUTE}"
            )
        if pool in seen:
            raise SsoSettingError(f"SSO_ATTRIBUTES maps {pool} twice")
        if not _PROVIDER_ATTRIBUTE.match(source):
            raise SsoSettingError(
                f"SSO_ATTRIBUTES: the provider attribute for {pool} must be a claim or SAML attribute name "
                "(no spaces, quotes, ',' or '=', at most 256 characters)"
            )
        seen.add(pool)
        mapping[pool] = source
    return mapping


def _scopes(text: str | None, provider_type: ProviderType) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_OIDC_SCOPES if provider_type == "oidc" else ()
    if provider_type != "oidc":
        raise SsoSettingError("SSO_SCOPES is for OIDC providers only; remove it for a SAML provider")
    scopes = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not all(_SCOPE.match(scope) for scope in scopes) or "openid" not in scopes:
        raise SsoSettingError("SSO_SCOPES must be scope tokens separated by commas and include openid")
    return scopes


def _boolean(text: str | None, name: str) -> bool:
    if text is None:
        return False
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SsoSettingError(f"{name} must be true or false")


def _https_url(text: str, *, query: bool = False) -> bool:
    """An absolute https URL without fragment or userinfo (and without query unless allowed)."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and bool(host)
        and (query or not parts.query)
        and not parts.fragment
        and "#" not in text
        and "@" not in parts.netloc
        and not any(ch.isspace() for ch in text)
    )


def _metadata(
    text: str | None, provider_type: ProviderType, base_dir: Path | None
) -> tuple[str, Path | None]:
    if provider_type == "oidc":
        if text is None or not _https_url(text):
            raise SsoSettingError(
                "SSO_PROVIDER=oidc:… needs SSO_METADATA, the provider's issuer URL exactly as in its ID "
                "tokens' `iss` (https, no query), e.g. https://login.microsoftonline.com/<tenant id>/v2.0"
            )
        return text, None
    if text is None:
        raise SsoSettingError(
            "SSO_PROVIDER=saml:… needs SSO_METADATA: the https URL of the provider's SAML metadata, or "
            "the path of its metadata XML file"
        )
    if text.lower().startswith("https://"):
        # Entra ID's metadata URL carries `?appid=…`: a query is fine here.
        if not _https_url(text, query=True):
            raise SsoSettingError("SSO_METADATA must be an https URL of the SAML metadata document")
        return text, None
    if "://" in text:
        raise SsoSettingError("SSO_METADATA must be an https URL or the path of a metadata XML file")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise SsoSettingError(
            f"SSO_METADATA: cannot read the SAML metadata file {text!r}; give the path of the XML your "
            "provider lets you download, or its metadata URL"
        ) from None
    if "EntityDescriptor" not in content:
        raise SsoSettingError(f"SSO_METADATA: {text!r} is not SAML metadata (no EntityDescriptor element)")
    return "", path


def _client(text: str | None, provider_type: ProviderType) -> str:
    if provider_type == "saml":
        if text is not None:
            raise SsoSettingError("SSO_CLIENT is for OIDC providers only; remove it for a SAML provider")
        return ""
    if text is None or not _SECRET_NAME.match(text) or text.startswith("arn:"):
        raise SsoSettingError(
            "SSO_PROVIDER=oidc:… needs SSO_CLIENT, the NAME of an existing Secrets Manager secret (in the "
            'stack\'s region) holding {"client_id": "...", "client_secret": "..."} of the client you '
            "registered at the provider; not an ARN, never the secret itself"
        )
    return text
