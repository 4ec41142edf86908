"""Hostile clients against the authorization front of `make dev`, over real HTTP.

Each case is refused with the OAuth error the RFCs name AND leaves an audit event saying why
(read from the stack's shipped audit log group, as an operator would). The shapes:

- RFC 6749 §4.1.2.1: while the client or its redirect URI is unverified, the error is shown to
  the user (an error page, 400, never a redirect: that would make the front an open
  redirector); afterwards it goes back to the client's redirect URI with `error`, `state` and,
  per RFC 9207 §2, `iss`.
- RFC 6749 §5.2: token endpoint errors are JSON bodies (`invalid_grant`, `invalid_scope`, …);
  RFC 8707 §2: a `resource` the server does not serve is `invalid_target`.
- RFC 7636 §4.4.1 and OAuth 2.1 §4.1.1: PKCE is required and `plain` is refused (S256 only).
- RFC 8252 §7.3 / §8.3: a loopback redirect URI matches with any port, never another host
  (127.0.0.1 is not localhost).
- draft-ietf-oauth-client-id-metadata-document §4 and §6 (security considerations: SSRF): the
  document's `client_id` must equal its URL; the fetch must not reach private or link-local
  addresses, follow redirects, or accept huge or slow documents (5 KB is the suggested bound).
- OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2: a reused refresh token revokes the whole family.
- RFC 7591 §3: registration errors are `invalid_redirect_uri` / `invalid_client_metadata`; a
  flood gets 429 with `Retry-After` (RFC 6585 §4).

The stack is the test-only one of `tests/e2e/oauth_harness.py` (auto-approved dev login, the
test CA trusted for CIMD). The front allows 10 registrations per source address per hour, so
registrations are counted here and the flood comes last among them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import pytest

from tests.e2e.oauth_support import (
    REDIRECT_URI,
    Browser,
    DocumentServer,
    Served,
    SignInStopped,
    audit_records,
    make_pki,
    oauth_stack,
    query_of,
    set_dev_user,
    wait_for_audit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e-oauth-hostile")]


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DocumentServer, Path]]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    with DocumentServer(pki) as server:
        yield server, pki.ca_path


@pytest.fixture(scope="module")
def stack(
    documents: tuple[DocumentServer, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    with oauth_stack(tmp_path_factory.mktemp("oauth-hostile-stack"), cimd_ca=documents[1]) as state:
        yield state


def _register(stack: dict[str, Any], **metadata: Any) -> httpx2.Response:
    document = {
        "client_name": "hostile e2e",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **metadata,
    }
    return httpx2.post(f"{stack['oauth_issuer']}/register", json=document, timeout=30)


@pytest.fixture(scope="module")
def client_a(stack: dict[str, Any]) -> str:
    response = _register(stack)
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


@pytest.fixture(scope="module")
def client_b(stack: dict[str, Any]) -> str:
    response = _register(stack, client_name="another hostile e2e")
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_url(stack: dict[str, Any], client_id: str, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": secrets.token_urlsafe(16),
        "code_challenge": _pkce()[1],
        "code_challenge_method": "S256",
        "resource": stack["mcp_url"],
        "scope": "mcp/access",
        **overrides,
    }
    return f"{stack['oauth_issuer']}/authorize?" + urlencode(
        {k: v for k, v in params.items() if v is not None}
    )


async def _code(stack: dict[str, Any], client_id: str, scope: str = "mcp/access") -> tuple[str, str]:
    """A fresh authorization code for `client_id` (its verifier), through consent and login."""
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    url = _authorize_url(stack, client_id, code_challenge=challenge, state=state, scope=scope)
    async with httpx2.AsyncClient(timeout=30) as http:
        location = await Browser(http).sign_in(url, REDIRECT_URI)
    query = query_of(location)
    assert query["state"] == state
    assert query["iss"] == stack["oauth_issuer"]
    return query["code"], verifier


def _token(stack: dict[str, Any], **form: str) -> httpx2.Response:
    return httpx2.post(f"{stack['oauth_issuer']}/token", data=form, timeout=30)


def _redeem(stack: dict[str, Any], client_id: str, code: str, verifier: str) -> httpx2.Response:
    return _token(
        stack,
        grant_type="authorization_code",
        client_id=client_id,
        code=code,
        code_verifier=verifier,
        redirect_uri=REDIRECT_URI,
        resource=stack["mcp_url"],
    )


def _refresh(stack: dict[str, Any], client_id: str, refresh_token: str, **extra: str) -> httpx2.Response:
    return _token(
        stack, grant_type="refresh_token", client_id=client_id, refresh_token=refresh_token, **extra
    )


@contextmanager
def _audited(
    stack: dict[str, Any], action: str, reason: str, client_id: str | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Expect the block to add one more refusal audit event like this one; yields it once shipped."""

    def matches(record: dict[str, Any]) -> bool:
        return (
            record.get("source") == "oauth"
            and record.get("action") == action
            and record.get("outcome") == "denied"
            and record.get("reason") == reason
            and (client_id is None or record.get("client_id") == client_id)
        )

    before = sum(1 for record in audit_records(stack) if matches(record))
    found: list[dict[str, Any]] = []
    yield found
    found.append(wait_for_audit(stack, matches, after=before))


def _error_page(response: httpx2.Response, status: int = 400) -> str:
    """An error shown to the user: no redirect anywhere, an HTML page naming the OAuth error."""
    assert response.status_code == status
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def _oauth_error(response: httpx2.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    error: str = response.json()["error"]
    return error


# --- open redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:33418/elsewhere",  # a path not registered
        "https://evil.example/callback",  # another host
        "http://127.0.0.1:33418@evil.example/callback",  # userinfo: the host is evil.example
        "http://evil.example/callback#http://127.0.0.1:33418/callback",  # fragment trick
        "http://127.0.0.1:33418/callback#@evil.example",  # a fragment is never allowed
        "http://localhost:33418/callback",  # loopback host swap: 127.0.0.1 is registered
        "http://127.0.0.1.evil.example:33418/callback",  # a host that starts like loopback
    ],
)
def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    stack: dict[str, Any], client_a: str, redirect_uri: str
) -> None:
    with _audited(stack, "authorize", "redirect_mismatch", client_a):
        response = httpx2.get(_authorize_url(stack, client_a, redirect_uri=redirect_uri), timeout=30)
    page = _error_page(response)
    assert "invalid_request" in page
    assert "evil.example" not in page


def test_a_loopback_redirect_with_another_port_is_accepted(stack: dict[str, Any], client_a: str) -> None:
    """The control for the cases above: RFC 8252 §7.3 lets the port vary, and only the port."""
    response = httpx2.get(
        _authorize_url(stack, client_a, redirect_uri="http://127.0.0.1:50123/callback"), timeout=30
    )
    assert response.status_code == 200
    assert "Approve" in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    ["javascript:alert(1)//", "http://evil.example/callback", "https://app.example/cb#frag"],
)
def test_registration_refuses_an_unsafe_redirect_uri(stack: dict[str, Any], redirect_uri: str) -> None:
    """RFC 7591 §3.2.2 `invalid_redirect_uri`; plain http only for loopback (RFC 8252 §8.3)."""
    with _audited(stack, "register", "invalid_redirect_uri"):
        response = _register(stack, redirect_uris=[redirect_uri])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


# --- CIMD: SSRF and document rules --------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["10.0.0.1", "192.168.1.10", "169.254.169.254", "[fd00:ec2::254]", "[::ffff:10.0.0.1]", "100.64.0.1"],
)
def test_a_cimd_client_id_on_a_private_or_link_local_address_is_refused(
    stack: dict[str, Any], host: str
) -> None:
    """Private, link-local (the instance metadata service), CGNAT and mapped forms: refused
    before any connection, even on the development front (which allows loopback only)."""
    client_id = f"https://{host}/clients/{secrets.token_hex(4)}.json"
    with _audited(stack, "authorize", "cimd_refused", client_id):
        page = _error_page(httpx2.get(_authorize_url(stack, client_id), timeout=30))
    assert "invalid_client" in page


def _cimd(server: DocumentServer, path: str, served: Served | None = None, **document: Any) -> str:
    client_id = server.url(path)
    body = {
        "client_id": client_id,
        "client_name": "CIMD hostile e2e",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **document,
    }
    server.routes[path] = served or Served.json(body)
    return client_id


def _refused_cimd(stack: dict[str, Any], client_id: str) -> None:
    with _audited(stack, "authorize", "cimd_refused", client_id):
        page = _error_page(httpx2.get(_authorize_url(stack, client_id), timeout=30))
    assert "invalid_client" in page


def test_a_cimd_document_behind_a_redirect_is_refused(
    stack: dict[str, Any], documents: tuple[DocumentServer, Path]
) -> None:
    server, _ = documents
    target = _cimd(server, "/clients/target.json")
    client_id = _cimd(server, "/clients/moved.json", Served(302, b"", {"Location": target}))
    _refused_cimd(stack, client_id)
    assert "/clients/moved.json" in server.requests
    assert "/clients/target.json" not in server.requests  # the redirect was not followed


def test_a_6_kb_cimd_document_is_refused(
    stack: dict[str, Any], documents: tuple[DocumentServer, Path]
) -> None:
    server, _ = documents
    _refused_cimd(stack, _cimd(server, "/clients/huge.json", client_name="huge", padding="x" * 6 * 1024))


def test_a_slow_cimd_document_is_refused(
    stack: dict[str, Any], documents: tuple[DocumentServer, Path]
) -> None:
    """A server dripping a byte at a time cannot hold the front past its fetch deadline."""
    server, _ = documents
    client_id = server.url("/clients/slow.json")
    document = json.dumps({"client_id": client_id, "redirect_uris": [REDIRECT_URI]}).encode()
    slow = Served(200, document, {"Content-Type": "application/json"}, drip_seconds=0.1)
    _refused_cimd(stack, _cimd(server, "/clients/slow.json", slow))


def test_a_cimd_document_naming_another_client_id_is_refused(
    stack: dict[str, Any], documents: tuple[DocumentServer, Path]
) -> None:
    server, _ = documents
    _refused_cimd(
        stack, _cimd(server, "/clients/impostor.json", client_id="https://claude.ai/oauth/client.json")
    )


def test_a_cimd_redirect_uri_not_in_the_document_is_refused(
    stack: dict[str, Any], documents: tuple[DocumentServer, Path]
) -> None:
    """The document is the only source of a CIMD client's redirect URIs."""
    server, _ = documents
    client_id = _cimd(server, "/clients/honest.json")
    with _audited(stack, "authorize", "redirect_mismatch", client_id):
        response = httpx2.get(
            _authorize_url(stack, client_id, redirect_uri="https://evil.example/callback"), timeout=30
        )
    _error_page(response)


# --- PKCE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "pkce_missing"),
        ({"code_challenge_method": "plain"}, "pkce_method"),
    ],
)
def test_authorize_without_s256_pkce_is_refused_back_to_the_client(
    stack: dict[str, Any], client_a: str, overrides: dict[str, str | None], reason: str
) -> None:
    state = secrets.token_urlsafe(16)
    with _audited(stack, "authorize", reason, client_a):
        response = httpx2.get(_authorize_url(stack, client_a, state=state, **overrides), timeout=30)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = query_of(location)
    assert query["error"] == "invalid_request"
    assert query["state"] == state
    assert query["iss"] == stack["oauth_issuer"]


async def test_a_wrong_code_verifier_is_invalid_grant(stack: dict[str, Any], client_a: str) -> None:
    code, _ = await _code(stack, client_a)
    with _audited(stack, "token", "pkce_mismatch", client_a):
        response = _redeem(stack, client_a, code, secrets.token_urlsafe(48))
    assert _oauth_error(response) == "invalid_grant"


# --- codes --------------------------------------------------------------------------------------


async def test_a_replayed_code_is_refused_and_revokes_what_it_issued(
    stack: dict[str, Any], client_a: str
) -> None:
    code, verifier = await _code(stack, client_a)
    first = _redeem(stack, client_a, code, verifier)
    assert first.status_code == 200, first.text
    refresh_token = first.json()["refresh_token"]
    with _audited(stack, "token", "code_replay"):
        assert _oauth_error(_redeem(stack, client_a, code, verifier)) == "invalid_grant"
    # The code leaked: the refresh token the first redemption got stops working.
    assert _oauth_error(_refresh(stack, client_a, refresh_token)) == "invalid_grant"


async def test_a_code_redeemed_by_another_client_is_refused(
    stack: dict[str, Any], client_a: str, client_b: str
) -> None:
    code, verifier = await _code(stack, client_a)
    with _audited(stack, "token", "client_mismatch", client_b):
        assert _oauth_error(_redeem(stack, client_b, code, verifier)) == "invalid_grant"


async def test_a_resource_naming_another_server_is_invalid_target(
    stack: dict[str, Any], client_a: str
) -> None:
    """At /authorize (back to the client) and at the token endpoint (RFC 8707 §2)."""
    state = secrets.token_urlsafe(16)
    with _audited(stack, "authorize", "invalid_target", client_a):
        response = httpx2.get(
            _authorize_url(stack, client_a, state=state, resource="https://other.example/mcp"), timeout=30
        )
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert (query["error"], query["state"]) == ("invalid_target", state)

    code, verifier = await _code(stack, client_a)
    with _audited(stack, "token", "invalid_target", client_a):
        exchange = _token(
            stack,
            grant_type="authorization_code",
            client_id=client_a,
            code=code,
            code_verifier=verifier,
            redirect_uri=REDIRECT_URI,
            resource="https://other.example/mcp",
        )
    assert _oauth_error(exchange) == "invalid_target"


# --- the browser binding (state, cookie, CSRF) --------------------------------------------------


async def test_a_callback_in_another_browser_or_with_a_forged_state_is_refused(
    stack: dict[str, Any], client_a: str
) -> None:
    async with httpx2.AsyncClient(timeout=30) as victim, httpx2.AsyncClient(timeout=30) as attacker:
        # The upstream's redirect back to the front, taken to a browser without the binding cookie.
        callback = await Browser(attacker).sign_in(
            _authorize_url(stack, client_a), f"{stack['oauth_issuer']}/callback?"
        )
        with _audited(stack, "callback", "browser_mismatch", client_a):
            _error_page(await victim.get(callback), 403)
        # A state the front never issued.
        forged = callback.split("?")[0] + "?" + urlencode({"state": secrets.token_urlsafe(32), "code": "x"})
        with _audited(stack, "callback", "state_mismatch"):
            _error_page(await attacker.get(forged), 400)


async def test_a_consent_post_with_a_forged_csrf_value_is_refused(
    stack: dict[str, Any], client_a: str
) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        browser = Browser(http, tamper=lambda fields: fields.update(csrf=secrets.token_urlsafe(32)))
        with _audited(stack, "consent", "csrf", client_a), pytest.raises(SignInStopped) as stopped:
            await browser.sign_in(_authorize_url(stack, client_a), REDIRECT_URI)
    _error_page(stopped.value.response, 403)


# --- refresh ------------------------------------------------------------------------------------


async def _tokens(stack: dict[str, Any], client_id: str, scope: str = "mcp/access") -> dict[str, Any]:
    code, verifier = await _code(stack, client_id, scope)
    response = _redeem(stack, client_id, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def test_a_refresh_cannot_widen_the_consented_scopes(stack: dict[str, Any], client_a: str) -> None:
    tokens = await _tokens(stack, client_a, "mcp/access")
    with _audited(stack, "refresh", "invalid_scope", client_a):
        widened = _refresh(stack, client_a, tokens["refresh_token"], scope="mcp/access mcp/profile")
    assert _oauth_error(widened) == "invalid_scope"
    # A well-meant but wrong request does not burn the token: the same scopes still refresh.
    again = _refresh(stack, client_a, tokens["refresh_token"], scope="mcp/access")
    assert again.status_code == 200, again.text
    assert again.json()["scope"] == "mcp/access"


async def test_a_reused_refresh_token_revokes_its_family(stack: dict[str, Any], client_a: str) -> None:
    tokens = await _tokens(stack, client_a)
    rotated = _refresh(stack, client_a, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    newer = rotated.json()["refresh_token"]
    assert newer != tokens["refresh_token"]
    with _audited(stack, "refresh", "refresh_reuse"):
        assert _oauth_error(_refresh(stack, client_a, tokens["refresh_token"])) == "invalid_grant"
    # The whole family is revoked: the newer token stops working too.
    assert _oauth_error(_refresh(stack, client_a, newer)) == "invalid_grant"


async def test_a_user_disabled_upstream_loses_access_at_the_next_refresh(
    stack: dict[str, Any], client_a: str
) -> None:
    tokens = await _tokens(stack, client_a)
    set_dev_user(stack, enabled=False)
    try:
        with _audited(stack, "refresh", "upstream_refused", client_a) as found:
            assert _oauth_error(_refresh(stack, client_a, tokens["refresh_token"])) == "invalid_grant"
        assert found[0]["principal"] == "dev-user"
    finally:
        set_dev_user(stack, enabled=True)


# --- registration flood (last: it uses up this address's registrations) -------------------------


def test_a_registration_flood_gets_429_with_retry_after(
    stack: dict[str, Any], client_a: str, client_b: str
) -> None:
    statuses: list[int] = []
    with _audited(stack, "register", "rate_limited"):
        for _ in range(15):
            response = _register(stack)
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) <= {201}
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"] == "invalid_request"


def test_no_code_token_or_verifier_reaches_the_audit_trail(stack: dict[str, Any]) -> None:
    """The audit events of every case above carry reasons and ids, never a credential."""
    text = json.dumps(audit_records(stack))
    assert "refresh_token" not in text
    assert "code_verifier" not in text
    assert "eyJ" not in text  # no JWT
