"""Who a client is: pre-registered in the settings, a Client ID Metadata Document, or registered here.

Order matters. Pre-registered clients come first so a deployment's own clients never depend on
a fetch; then an https URL client_id is a CIMD and its document is the only source of its
redirect URIs (draft-ietf-oauth-client-id-metadata-document §4); anything else is looked up
among the dynamically registered clients.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.oauth.cimd import CimdError, CimdFetcher, is_cimd_client_id
from app.oauth.client_metadata import ClientMetadata
from app.oauth.settings import FrontSettings
from app.oauth.store import FrontStore, RateLimited

MAX_CLIENT_ID_LENGTH = 2000


class UnknownClient(Exception):
    """No such client; `reason` is the audit reason code, `description` safe to show."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


class LookupLimited(UnknownClient):
    """The caller's address made the front download too many metadata documents this hour."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate_limited", "too many sign-ins with new client IDs from this address: try later")
        self.retry_after = retry_after


@dataclass(frozen=True)
class KnownClient:
    metadata: ClientMetadata
    secret_hash: str | None  # only for a confidential client registered here
    kind: str  # "preregistered" | "cimd" | "registered"


def find_client(
    client_id: str | None,
    settings: FrontSettings,
    store: FrontStore,
    fetcher: CimdFetcher,
    *,
    source_ip: str | None,
) -> KnownClient:
    """The client named by `client_id`, or `UnknownClient` (`LookupLimited` when rate-limited).

    A CIMD client_id that is not cached costs a download from a host the caller chose: each
    such download is counted against `cimd_fetches_per_ip_per_hour` for the caller's address
    (a cached document or a remembered refusal costs nothing and is not counted).
    """
    if not client_id:
        raise UnknownClient("invalid_request", "client_id is required")
    if len(client_id) > MAX_CLIENT_ID_LENGTH or not client_id.isprintable():
        raise UnknownClient("invalid_client", "client_id is not valid")
    preregistered = settings.preregistered_clients.get(client_id)
    if preregistered is not None:
        return KnownClient(preregistered, None, "preregistered")
    if client_id.startswith("https://"):
        if not is_cimd_client_id(client_id):
            raise UnknownClient("cimd_refused", "client_id is not a valid client ID metadata document URL")

        def count_download() -> None:
            store.check_cimd_fetch_allowed(
                source_ip or "unknown", per_ip_per_hour=settings.cimd_fetches_per_ip_per_hour
            )

        try:
            fetched = fetcher.fetch(client_id, before_download=count_download)
        except RateLimited as limited:
            raise LookupLimited(limited.retry_after) from None
        except CimdError as error:
            raise UnknownClient(
                "cimd_refused", f"the client's metadata document was refused: {error.description}"
            ) from None
        return KnownClient(fetched.metadata, None, "cimd")
    stored = store.get_client(client_id)
    if stored is None:
        raise UnknownClient("invalid_client", "unknown client_id (register the client first)")
    return KnownClient(stored.metadata, stored.secret_hash, "registered")
