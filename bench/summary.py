"""Medians, p99 and ratios: the only statistics the report quotes.

Medians because a shared machine adds long, rare delays that would dominate a mean; p99 to
show those tails anyway. Ratios are taken between medians measured in the same run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Nanosecond samples reduced to what the tables show."""

    n: int
    median_ns: float
    p99_ns: float

    @classmethod
    def of(cls, samples: Sequence[int]) -> Summary:
        if not samples:
            return cls(0, math.nan, math.nan)
        return cls(len(samples), float(statistics.median(samples)), percentile(samples, 99))

    @property
    def per_second(self) -> float:
        """Throughput implied by the median (one caller, one invocation at a time)."""
        return 1e9 / self.median_ns if self.median_ns > 0 else math.nan


def percentile(samples: Sequence[int], pct: float) -> float:
    """Linear interpolation between closest ranks (the common definition, numpy's default)."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(value: float, reference: float) -> float:
    if not math.isfinite(value) or not math.isfinite(reference) or reference <= 0:
        return math.nan
    return value / reference
