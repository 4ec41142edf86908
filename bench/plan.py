"""How much to measure: the full run behind `make bench`, and the `--quick` smoke run.

Sized for a 2-core shared machine: the full run takes a few minutes once the virtualenvs and
bundles are cached; `--quick` stays under a minute and builds nothing it can do without (no
published alternative's virtualenv, no bundle).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    quick: bool
    warm_rounds: int  # MCP warm: rounds x batch calls per contender
    warm_batch: int
    warm_warmup: int
    auth_rounds: int  # authorizer warm: rounds x batch decisions per series
    auth_batch: int
    auth_warmup: int
    cold_runs: int  # fresh processes per contender (after one discarded start)
    profile_calls: int
    profile_warmup: int

    @property
    def warm_calls(self) -> int:
        return self.warm_rounds * self.warm_batch


FULL = Plan(
    quick=False,
    warm_rounds=50,
    warm_batch=10,
    warm_warmup=50,
    auth_rounds=40,
    auth_batch=50,
    auth_warmup=100,
    cold_runs=15,
    profile_calls=500,
    profile_warmup=100,
)
QUICK = Plan(
    quick=True,
    warm_rounds=3,
    warm_batch=10,
    warm_warmup=5,
    auth_rounds=3,
    auth_batch=20,
    auth_warmup=10,
    cold_runs=1,
    profile_calls=20,
    profile_warmup=10,
)
