"""The floor: a bare Lambda handler that answers the tools/call with a fixed JSON-RPC result.

No parsing beyond `json.loads`, no framework: whatever any contender spends above this is
the price of its adapter and protocol machinery, not of Lambda or of the event itself.
"""

from __future__ import annotations

import json
from typing import Any

_HEADERS = {"Content-Type": "application/json"}


def add(a: float, b: float) -> float:
    """Add two numbers and return the sum."""
    return a + b


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = json.loads(event["body"])
    arguments = request["params"]["arguments"]
    total = add(arguments["a"], arguments["b"])
    result = {
        "content": [{"type": "text", "text": str(total)}],
        "structuredContent": {"result": total},
        "isError": False,
    }
    body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result})
    return {"statusCode": 200, "headers": _HEADERS, "body": body, "isBase64Encoded": False}
