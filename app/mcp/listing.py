"""The one way SDK middleware here reads and rewrites a list result (`tools/list`, …)."""

from __future__ import annotations

from typing import Any


def listed_items(result: Any, field_name: str, method: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`result` as a JSON dict and its `field_name` list, for filtering; RuntimeError if it has none.

    Middleware that hides items must fail closed: a result it cannot filter is an error, never
    an unfiltered list.
    """
    if not isinstance(result, dict) and hasattr(result, "model_dump"):
        result = result.model_dump(by_alias=True, exclude_none=True, mode="json")
    items = result.get(field_name) if isinstance(result, dict) else None
    if not isinstance(result, dict) or not isinstance(items, list):
        raise RuntimeError(f"cannot filter {method} result")
    return result, items
