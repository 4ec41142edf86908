"""A small offline glossary of the specifications this template follows (no network).

- `define`: one term's definition and the document that defines it (scope `mcp/research`);
- `search_terms`: the terms whose name or definition mentions a word (scope `mcp/research`);
- `glossary://terms`: the list of terms, a resource readable with the base scope only.
"""

from __future__ import annotations

from typing import Final, TypedDict

from mcp.server.mcpserver.exceptions import ToolError

from app.mcp.permissions import ScopedServer

RESEARCH_SCOPE: Final = "mcp/research"


class Entry(TypedDict):
    term: str
    definition: str
    source: str


GLOSSARY: Final[dict[str, Entry]] = {
    entry["term"].lower(): entry
    for entry in (
        Entry(
            term="resource indicator",
            definition="The URL of the resource server a token is for; the issued token names it in aud.",
            source="RFC 8707",
        ),
        Entry(
            term="protected resource metadata",
            definition="A JSON document naming a resource's authorization servers and scopes.",
            source="RFC 9728",
        ),
        Entry(
            term="audience",
            definition="The aud claim: who a token is for; a resource server refuses others' tokens.",
            source="RFC 7519 section 4.1.3",
        ),
        Entry(
            term="insufficient scope",
            definition="A 403 challenge naming the scopes a request needs (step-up).",
            source="RFC 6750 section 3.1",
        ),
        Entry(
            term="confused deputy",
            definition="A server replaying a token meant for itself elsewhere; audience binding prevents it.",
            source="MCP security best practices",
        ),
        Entry(
            term="PKCE",
            definition="Proof Key for Code Exchange: binds an authorization code to its client.",
            source="RFC 7636",
        ),
    )
}


def register(server: ScopedServer) -> None:
    """Register the glossary tools and resource on `server`."""

    @server.tool(title="Define a term", scopes=[RESEARCH_SCOPE])
    def define(term: str) -> Entry:
        """The definition of a specification term (e.g. "resource indicator") and where it is defined."""
        entry = GLOSSARY.get(term.strip().lower())
        if entry is None:
            # The model can correct itself from the list; the input is not echoed into logs.
            raise ToolError("Unknown term; known terms: " + ", ".join(sorted(GLOSSARY)))
        return entry

    @server.tool(title="Search the glossary", scopes=[RESEARCH_SCOPE])
    def search_terms(word: str) -> list[str]:
        """The terms whose name or definition mentions `word` (case-insensitive)."""
        needle = word.strip().lower()
        if not needle:
            raise ToolError("word must not be empty")
        found = (
            e["term"] for key, e in GLOSSARY.items() if needle in key or needle in e["definition"].lower()
        )
        return sorted(found)

    @server.resource("glossary://terms", name="glossary-terms", mime_type="application/json")
    def terms() -> list[str]:
        """Every term the glossary defines."""
        return sorted(entry["term"] for entry in GLOSSARY.values())
