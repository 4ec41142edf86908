"""The authorization front carries the upstream's tenant into its tokens (MULTI_TENANT on).

The upstream's ID token names the tenant by `TENANT_CLAIM` (a string, or one `<prefix><id>`
group); the front writes it into its own access token as `tenant`, keeps it with the code and
the refresh family, and reads it again from each refreshed ID token. A sign-in that names no
usable tenant is refused at the callback with a redirect the client shows, not with a token
every request would be refused with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from moto import mock_aws

from app.oauth.upstream import UpstreamConfig, UpstreamGrant
from tests.unit.oauth.front_harness import (
    REGION,
    Browser,
    Env,
    FakeUpstream,
    body,
    capture_audit,
    create_aws,
    event,
    make_front,
    pkce_pair,
    query_of,
    redeem,
    settings_document,
    sign_in,
)


class TenantUpstream(FakeUpstream):
    """The fake upstream, whose ID tokens carry claims a test chooses (`None`: no ID token)."""

    def __init__(self, config: UpstreamConfig) -> None:
        super().__init__(config)
        self.id_claims: dict[str, Any] = {}
        self.refresh_claims: dict[str, Any] | None = None

    def exchange_code(self, code: str, code_verifier: str, nonce: str) -> UpstreamGrant:
        grant = super().exchange_code(code, code_verifier, nonce)
        return UpstreamGrant(
            grant.subject,
            grant.scopes,
            grant.refresh_token,
            None,
            {**grant.id_token_claims, **self.id_claims},
        )

    def refresh(self, refresh_token: str, *, subject: str) -> UpstreamGrant:
        grant = super().refresh(refresh_token, subject=subject)
        claims = {} if self.refresh_claims is None else {"sub": subject, **self.refresh_claims}
        return UpstreamGrant(grant.subject, grant.scopes, grant.refresh_token, None, claims)


@contextlib.contextmanager
def tenant_front(
    monkeypatch: pytest.MonkeyPatch, **settings: str
) -> Iterator[tuple[Env, list[TenantUpstream]]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        aws = create_aws(settings_document())
        front, _ = make_front({**aws.env, **settings})
        upstreams: list[TenantUpstream] = []

        def factory(config: UpstreamConfig) -> Any:
            upstreams.append(TenantUpstream(config))
            return upstreams[-1]

        front.upstream_factory = factory
        lines = capture_audit()
        try:
            yield Env(front, [], next(lines)), upstreams
        finally:
            lines.close()


def prime(env: Env, upstreams: list[TenantUpstream]) -> TenantUpstream:
    """The upstream client exists once the front built its context: a metadata request does it."""
    Browser(env.front).send(event("GET", "/.well-known/oauth-authorization-server/oauth"))
    return upstreams[-1]


def claims_of(token: str) -> dict[str, Any]:
    """The access token's claims (its signature is the subject of test_front_flows.py)."""
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def sign_in_and_redeem(env: Env) -> tuple[Any, dict[str, Any] | None]:
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge)
    answer = query_of(callback.headers["Location"])
    if "code" not in answer:
        return answer, None
    response = redeem(env, answer["code"], verifier)
    assert response.status == 200, response.body
    return answer, body(response)


def refresh(env: Env, refresh_token: str) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "inspector"}
    return Browser(env.front).send(event("POST", "/oauth/token", form=form))


GROUPS = {"MULTI_TENANT": "true", "TENANT_CLAIM": "cognito:groups", "TENANT_GROUP_PREFIX": "tenant:"}


def test_the_upstream_tenant_group_becomes_the_tokens_tenant_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    with tenant_front(monkeypatch, **GROUPS) as (env, upstreams):
        prime(env, upstreams).id_claims = {"cognito:groups": ["readers", "tenant:acme"]}
        _, tokens = sign_in_and_redeem(env)
        assert tokens is not None
        claims = claims_of(tokens["access_token"])
        assert claims["tenant"] == "acme"
        assert "cognito:groups" not in claims  # only the resolved tenant travels

        # A refresh without a new ID token keeps the sign-in's tenant ...
        rotated = refresh(env, tokens["refresh_token"])
        assert claims_of(body(rotated)["access_token"])["tenant"] == "acme"
        # ... one with a new ID token follows the user's groups as they are now.
        upstreams[-1].refresh_claims = {"cognito:groups": ["tenant:globex"]}
        moved = refresh(env, body(rotated)["refresh_token"])
        assert claims_of(body(moved)["access_token"])["tenant"] == "globex"


def test_a_user_taken_out_of_every_tenant_loses_access_at_the_next_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tenant_front(monkeypatch, **GROUPS) as (env, upstreams):
        prime(env, upstreams).id_claims = {"cognito:groups": ["tenant:acme"]}
        _, tokens = sign_in_and_redeem(env)
        assert tokens is not None
        upstreams[-1].refresh_claims = {"cognito:groups": []}
        refused = refresh(env, tokens["refresh_token"])
        assert (refused.status, body(refused)["error"]) == (400, "invalid_grant")
        assert env.audit.last()["reason"] == "missing_tenant"
        # The family is revoked: the same refresh token cannot be tried again later.
        upstreams[-1].refresh_claims = {"cognito:groups": ["tenant:acme"]}
        assert refresh(env, tokens["refresh_token"]).status == 400


@pytest.mark.parametrize(
    ("id_claims", "reason"),
    [
        ({}, "missing_tenant"),
        ({"cognito:groups": ["readers"]}, "missing_tenant"),
        ({"cognito:groups": ["tenant:acme", "tenant:globex"]}, "invalid_tenant"),
        ({"cognito:groups": ["tenant:acme corp"]}, "invalid_tenant"),
    ],
)
def test_a_sign_in_without_a_usable_tenant_is_refused_at_the_callback(
    monkeypatch: pytest.MonkeyPatch, id_claims: dict[str, Any], reason: str
) -> None:
    with tenant_front(monkeypatch, **GROUPS) as (env, upstreams):
        prime(env, upstreams).id_claims = id_claims
        answer, tokens = sign_in_and_redeem(env)
        assert tokens is None
        assert answer["error"] == "access_denied"
        assert "administrator" in answer["error_description"]
        assert env.audit.last()["reason"] == reason


def test_with_a_default_tenant_a_sign_in_without_one_gets_a_token_without_a_tenant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The authorizer applies DEFAULT_TENANT (one place decides it); the token names none."""
    with tenant_front(monkeypatch, MULTI_TENANT="true", DEFAULT_TENANT="shared") as (env, upstreams):
        prime(env, upstreams)
        _, tokens = sign_in_and_redeem(env)
        assert tokens is not None
        assert "tenant" not in claims_of(tokens["access_token"])


def test_off_the_front_carries_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with tenant_front(monkeypatch) as (env, upstreams):
        prime(env, upstreams).id_claims = {"tenant": "acme"}
        _, tokens = sign_in_and_redeem(env)
        assert tokens is not None
        assert "tenant" not in claims_of(tokens["access_token"])
