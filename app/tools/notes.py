"""Example: a tool with data, kept apart per tenant by IAM (notes_add, notes_list, notes_get).

Copy this to give your own tools per-tenant data. The rules it shows:

- The tenant comes from the verified caller (`current_principal(ctx).tenant`: the authorizer
  settled it from the token or API key), never from an argument: a model can be talked into
  sending any argument.
- Data access goes through `tenant_table(server, ctx)`, a DynamoDB client signed with credentials that
  IAM lets read and write only the caller's tenant's items (`app/core/tenant_data.py`). A bug
  here that asks for another tenant's item is refused by DynamoDB, not by this code.
- Failures are `ToolError`s the model can read; they name neither another tenant nor an item
  the caller could not see (an unknown note and a refused one read the same).

Items live under the sort key `note#<created ms>-<random>`, so a query returns them newest first.
Needs `TENANT_TABLE_NAME` and `TENANT_DATA_ROLE_ARN` (the stack sets both with
`MULTI_TENANT=true`; `make dev` always does) and the `mcp/notes` scope.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

# Pydantic reads TypedDicts only from typing_extensions before Python 3.12 (the SDK makes the
# structured output schema from them).
from typing_extensions import TypedDict

from app.core.config import ConfigurationError, SettingsSource
from app.core.identity import current_principal
from app.core.snapstart import register_after_restore
from app.core.tenant_data import TenantData, TenantDataError, TenantDataSettings, TenantTable
from app.mcp.permissions import ScopedServer

NOTES_SCOPE: Final = "mcp/notes"
MAX_TEXT_CHARS: Final = 2000
MAX_LIST: Final = 50
PREFIX: Final = "note#"
_NOTE_ID: Final = re.compile(r"[0-9]{13}-[0-9a-f]{8}", re.ASCII)
NOT_CONFIGURED: Final = (
    "notes are not configured here: set TENANT_TABLE_NAME and TENANT_DATA_ROLE_ARN "
    "(deploy with MULTI_TENANT=true; see docs/tenants.md)"
)
NO_TENANT: Final = (
    "notes are kept per tenant, and your credential names none: use an API key created with "
    "--tenant, or a sign-in that carries a tenant (docs/tenants.md)"
)

log = logging.getLogger(__name__)


class Note(TypedDict):
    note_id: str
    text: str
    created_at: str
    author: str


class NoteList(TypedDict):
    tenant: str
    notes: list[Note]


class _TenantDataHolder:
    """One `TenantData` per container and settings, made on first use (never at import)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: TenantData | None = None

    def get(self, settings: SettingsSource | None) -> TenantData:
        try:
            config = TenantDataSettings.from_env(settings.env) if settings is not None else None
        except ConfigurationError as error:
            raise ToolError(str(error)) from None  # names the settings, never a value
        if config is None:
            raise ToolError(NOT_CONFIGURED)
        with self._lock:
            if self._data is None or self._data.settings != config:
                self._data = TenantData(config)
            return self._data

    def clear(self) -> None:
        with self._lock:
            if self._data is not None:
                self._data.clear()


_holder = _TenantDataHolder()
register_after_restore(_holder.clear)


def tenant_table(server: ScopedServer, ctx: Context) -> TenantTable:
    """The table client for the verified caller's tenant; `ToolError` when there is none or no table."""
    principal = current_principal(ctx)
    tenant = principal.tenant if principal is not None else None
    if tenant is None:
        raise ToolError(NO_TENANT)
    data = _holder.get(server.settings)
    try:
        return data.table_for(tenant)
    except ValueError:
        raise ToolError("your credential's tenant is not a valid tenant id") from None
    except TenantDataError as error:
        raise ToolError(str(error)) from None


def _note(note_id: str, item: Mapping[str, object]) -> Note:
    return Note(
        note_id=note_id,
        text=str(item.get("text", "")),
        created_at=str(item.get("created_at", "")),
        author=str(item.get("author", "")),
    )


def register(server: ScopedServer) -> None:
    """Register the three notes tools on `server`."""

    @server.tool(title="Add a note", scopes=[NOTES_SCOPE])
    def notes_add(text: str, ctx: Context) -> Note:
        """Save a short note for your tenant (everyone in the tenant can read it)."""
        if not text.strip():
            raise ToolError("text must not be empty")
        if len(text) > MAX_TEXT_CHARS:
            raise ToolError(f"text must be at most {MAX_TEXT_CHARS} characters")
        table = tenant_table(server, ctx)
        principal = current_principal(ctx)
        now = time.time()
        note_id = f"{int(now * 1000):013d}-{secrets.token_hex(4)}"
        item = {
            "note_id": note_id,
            "text": text,
            "created_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "author": principal.subject if principal is not None else "",
        }
        try:
            table.put(PREFIX + note_id, item)
        except (TenantDataError, ValueError) as error:
            raise ToolError(str(error)) from None
        return _note(note_id, item)

    @server.tool(title="List notes", scopes=[NOTES_SCOPE])
    def notes_list(ctx: Context, limit: int = 20) -> NoteList:
        """Your tenant's notes, newest first (at most `limit`, 1-50)."""
        if not 1 <= limit <= MAX_LIST:
            raise ToolError(f"limit must be from 1 to {MAX_LIST}")
        table = tenant_table(server, ctx)
        try:
            items = table.query(PREFIX, limit=limit)
        except TenantDataError as error:
            raise ToolError(str(error)) from None
        notes = [_note(str(item.get("note_id", "")), item) for item in items]
        return NoteList(tenant=table.tenant, notes=notes)

    @server.tool(title="Get a note", scopes=[NOTES_SCOPE])
    def notes_get(note_id: str, ctx: Context) -> Note:
        """One of your tenant's notes, by the `note_id` that notes_add or notes_list gave."""
        if _NOTE_ID.fullmatch(note_id) is None:
            # Not echoed: the argument is the caller's text.
            raise ToolError("note_id must look like 1767225600000-0a1b2c3d (from notes_add or notes_list)")
        table = tenant_table(server, ctx)
        try:
            item = table.get(PREFIX + note_id)
        except TenantDataError as error:
            raise ToolError(str(error)) from None
        if item is None:
            raise ToolError("no note with that id in your tenant")
        return _note(note_id, item)
