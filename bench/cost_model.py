"""What one request costs on AWS under each authorizer design, from list prices and measured durations.

The two designs differ in how often the authorizer Lambda runs. With TTL 0 it runs on every
request (per-tool decisions, expiry and revocation at once). With a TTL it runs once per
Authorization header per TTL window: a caller sending N requests with one token within the
window pays one authorizer invocation for N requests. Everything else on the path (the API
Gateway request, the MCP Lambda) is the same in both, so it is the yardstick the difference is
measured against.

Prices are AWS's public on-demand list prices for US East (N. Virginia), first volume tier, no
free tier, as read on `PRICES_AS_OF` (the pricing pages render their tables client-side; the
figures were checked against published transcriptions of those pages). Billed duration is the
handler's duration rounded up to the next millisecond (1 ms billing granularity since December
2020). Not modelled: free tiers, Savings Plans, the INIT phase (billed for ZIP functions on
managed runtimes since 1 August 2025) and SnapStart restore charges, which follow cold starts,
not requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

PRICES_AS_OF: Final = "2026-12-02"
PRICE_REGION: Final = "us-east-1"
LAMBDA_PRICING_URL: Final = "https://aws.amazon.com/lambda/pricing/"
API_GATEWAY_PRICING_URL: Final = "https://aws.amazon.com/api-gateway/pricing/"
# Lambda, on-demand, arm64: per request, and per GB-second for the first 7.5 billion GB-s a month.
LAMBDA_USD_PER_MILLION_REQUESTS: Final = 0.20
LAMBDA_ARM64_USD_PER_GB_SECOND: Final = 0.0000133334
# API Gateway REST API: per million requests, first 333 million a month.
REST_API_USD_PER_MILLION_REQUESTS: Final = 3.50
BILLING_GRANULARITY_MS: Final = 1
# How many requests one token sends within one TTL window, for the cached design's hit rate.
REQUESTS_PER_TOKEN_PER_WINDOW: Final = (1, 10, 100, 1000)
MILLION: Final = 1_000_000


def billed_ms(duration_ns: float) -> int:
    """Lambda's billed duration for a handler that ran this long: rounded up, at least 1 ms."""
    if not math.isfinite(duration_ns) or duration_ns < 0:
        raise ValueError(f"not a duration: {duration_ns!r} ns")
    units = math.ceil(duration_ns / 1e6 / BILLING_GRANULARITY_MS)
    return max(1, units) * BILLING_GRANULARITY_MS


def lambda_usd_per_million(memory_mb: int, billed: int) -> float:
    """A million invocations of an arm64 function with this memory and billed duration (ms)."""
    gb_seconds = memory_mb / 1024 * billed / 1000
    return LAMBDA_USD_PER_MILLION_REQUESTS + MILLION * gb_seconds * LAMBDA_ARM64_USD_PER_GB_SECOND


@dataclass(frozen=True)
class Function:
    """A Lambda function as billed: its configured memory and one invocation's billed duration."""

    memory_mb: int
    billed_ms: int

    @property
    def usd_per_million(self) -> float:
        return lambda_usd_per_million(self.memory_mb, self.billed_ms)


@dataclass(frozen=True)
class CostRow:
    """Authorizer cost per million MCP requests at one hit rate, both designs."""

    requests_per_window: int
    cached_invocations: float  # authorizer invocations per million requests, TTL > 0
    cached_usd: float
    per_tool_usd: float  # TTL 0: one invocation per request
    added_usd: float  # what TTL 0 costs more
    added_share: float  # ... as a share of API Gateway + MCP Lambda for the same requests


@dataclass(frozen=True)
class CostModel:
    """The inputs and the table: cost per million requests."""

    per_tool: Function  # the authorizer with per-tool decisions (TTL 0)
    cached: Function  # the authorizer without them (TTL > 0)
    mcp: Function

    @property
    def gateway_usd(self) -> float:
        return REST_API_USD_PER_MILLION_REQUESTS

    @property
    def path_usd(self) -> float:
        """API Gateway + MCP Lambda per million requests: the same under both designs."""
        return self.gateway_usd + self.mcp.usd_per_million

    def rows(self) -> list[CostRow]:
        per_tool = self.per_tool.usd_per_million
        rows = []
        for n in REQUESTS_PER_TOKEN_PER_WINDOW:
            # One miss per token per window, then n - 1 hits.
            invocations = MILLION / n
            cached = self.cached.usd_per_million * invocations / MILLION
            added = per_tool - cached
            rows.append(CostRow(n, invocations, cached, per_tool, added, added / self.path_usd))
        return rows

    def usd_per_extra_billed_ms(self) -> float:
        """What one more billed millisecond of every authorizer invocation adds, per million."""
        return lambda_usd_per_million(self.per_tool.memory_mb, 1) - LAMBDA_USD_PER_MILLION_REQUESTS
