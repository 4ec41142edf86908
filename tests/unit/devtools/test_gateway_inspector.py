"""The inspector's routes in the emulator, answered as the stack's S3 integration answers them.

infra/constructs/inspector.py declares `GET /inspector` (the index object) and `GET
/inspector/{proxy+}` (the object `inspector/{proxy}`), no authorizer, an AWS integration to S3
GetObject whose 200 passes the stored Content-Type and adds the site's headers, and whose 4xx
(S3 answers 403 AccessDenied for a key that does not exist when the role may not ListBucket:
"GetObject", https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions")
is the method's 404. Nothing runs: no authorizer, no function. Other methods are undeclared: 403
"Missing Authentication Token". tests/infra/test_inspector.py checks the template says the same.
"""

from __future__ import annotations

import httpx2
import pytest

from devtools.gateway import InspectorSite
from devtools.inspector_site import NOT_FOUND_BODY, SiteObject
from tests.unit.devtools.conftest import VALID, running_gateway

PAGE = SiteObject(b"<!doctype html><title>inspector</title>", "text/html; charset=utf-8")
SCRIPT = SiteObject(b"console.log(1)", "text/javascript; charset=utf-8")
SITE = InspectorSite(
    objects={"inspector/index.html": PAGE, "inspector/oauth/callback": PAGE, "inspector/assets/a.js": SCRIPT},
    headers={"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"},
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/inspector", PAGE),
        ("/inspector/", PAGE),  # REST routing ignores one trailing slash
        ("/inspector/oauth/callback?code=x&state=y", PAGE),
        ("/inspector/assets/a.js", SCRIPT),
    ],
)
def test_objects_are_served_with_their_type_and_the_sites_headers(path: str, expected: SiteObject) -> None:
    with running_gateway(inspector=SITE) as gateway:
        response = httpx2.get(f"{gateway.url}{path}")
    assert response.status_code == 200
    assert response.content == expected.body
    assert response.headers["content-type"] == expected.content_type
    assert response.headers["content-security-policy"] == "default-src 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert gateway.authorizer.events == []
    assert gateway.function.events == []


def test_a_missing_key_is_404_and_other_methods_are_undeclared() -> None:
    with running_gateway(inspector=SITE) as gateway:
        missing = httpx2.get(f"{gateway.url}/inspector/nope.js")
        post = httpx2.post(f"{gateway.url}/inspector", content=b"{}")
    assert missing.status_code == 404
    assert missing.text == NOT_FOUND_BODY
    assert missing.headers["content-type"] == "application/json"
    assert post.status_code == 403
    assert post.json() == {"message": "Missing Authentication Token"}


def test_without_the_inspector_the_routes_do_not_exist() -> None:
    with running_gateway() as gateway:
        response = httpx2.get(f"{gateway.url}/inspector")
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_one_trailing_slash_reaches_the_same_resource() -> None:
    """Observed on REST APIs: `/hello/` routes to the resource `/hello` (aws-powertools/
    powertools-lambda-python#1552); the function sees the path as sent."""
    with running_gateway() as gateway:
        response = httpx2.post(f"{gateway.mcp_url}/", headers={"Authorization": VALID}, content=b"{}")
    assert response.status_code == 200
    (event,) = gateway.function.events
    assert (event["resource"], event["path"]) == ("/mcp", "/mcp/")
