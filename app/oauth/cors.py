"""Which of the front's answers a web page on another origin may read (CORS), and the headers that say so.

A browser-based MCP client (the MCP Inspector, a web app) runs OAuth discovery, dynamic
registration and the token exchange with `fetch` from its own origin. The browser hands it an
answer only if the answer carries `Access-Control-Allow-Origin`; for a Lambda proxy integration
the function must set it, API Gateway does not ("CORS for REST APIs in API Gateway":
https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html). The preflight
(OPTIONS) never reaches the front: API Gateway answers it (infra/constructs/api.py).

Readable cross-origin, by any origin (`*`), and never with credentials: the metadata documents,
the JWKS, `/register`, `/token` and `/revoke`. They carry no cookies and no ambient authority:
the client authenticates in the request itself (PKCE verifier, client secret, refresh token), so
a page reading the answer learns only what its own request earned.

Not readable cross-origin: `/authorize`, `/consent`, `/callback`. They are browser navigations
bound to the consent cookie; a page on another origin must never read the consent page (its
CSRF token) or a redirect. They get no CORS headers, and since `*` forbids credentials anyway, a
cookie-bearing cross-origin fetch of them fails in the browser.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from app.auth.front import (
    AUTHORIZATION_SERVER_METADATA_PATHS,
    JWKS_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from app.oauth.http import Response

CORS_PATHS: Final = frozenset(
    {*AUTHORIZATION_SERVER_METADATA_PATHS, JWKS_PATH, REGISTER_PATH, TOKEN_PATH, REVOKE_PATH}
)
CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    # A browser script reads only the safelisted response headers unless told otherwise:
    # /register's 429 says when to try again in Retry-After.
    "Access-Control-Expose-Headers": "Retry-After",
}


def with_cors(path: str | None, response: Response) -> Response:
    """`response` with the CORS headers when `path` (the matched route) is a public, cookie-free endpoint.

    Every answer there gets them, errors included (405, 413, 500): a browser client must be able
    to read an OAuth error to report it. A response that sets a cookie never does: a cookie is a
    browser session, and a session is exactly what another origin must not read (fail closed).
    """
    if path not in CORS_PATHS or response.cookies:
        return response
    return dataclasses.replace(response, headers={**response.headers, **CORS_HEADERS})
