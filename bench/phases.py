"""The two measurement loops, both round-robin so that noise is shared.

Warm: one long-lived worker per contender; each round, every contender runs one batch, and the
order rotates from round to round, so a burst of load from another tenant lands on everyone
instead of on whoever happened to run then. Cold: a fresh process per sample, contenders again
taking turns, after one discarded start each (bytecode written, OS file cache warm, as on a
Lambda host that has the code already).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bench.workers import Launch, Startup, cold_start

Progress = Callable[[str], None]
T = TypeVar("T")


class Timed(Protocol):
    """What a slot times: a handler worker (`bench.workers.Worker`) or an HTTP client of a stack."""

    def run(self, event: str, n: int) -> list[int]:
        """N timed invocations of the named event; nanoseconds each."""
        ...


@dataclass(frozen=True)
class Slot:
    """One timed series: a worker and the event it answers."""

    key: str
    worker: Timed
    event: str
    cap: int | None = None  # a slow contender: this many single calls, spread over the rounds


def rotated(items: Sequence[T], by: int) -> list[T]:
    if not items:
        return []
    shift = by % len(items)
    return [*items[shift:], *items[:shift]]


def _takes_part(slot: Slot, round_index: int, rounds: int) -> bool:
    if slot.cap is None:
        return True
    cap = min(slot.cap, rounds)
    return round_index == 0 or (round_index * cap) // rounds != ((round_index - 1) * cap) // rounds


def warm_series(
    slots: Sequence[Slot], *, rounds: int, batch: int, warmup: int, progress: Progress
) -> dict[str, list[int]]:
    """Interleaved timed invocations; nanoseconds per invocation, by slot key."""
    for slot in slots:
        slot.worker.run(slot.event, 1 if slot.cap is not None else warmup)
    samples: dict[str, list[int]] = {slot.key: [] for slot in slots}
    for round_index in range(rounds):
        for slot in rotated(slots, round_index):
            if _takes_part(slot, round_index, rounds):
                samples[slot.key] += slot.worker.run(slot.event, 1 if slot.cap is not None else batch)
        if (round_index + 1) % max(1, rounds // 5) == 0:
            progress(f"  warm round {round_index + 1}/{rounds}")
    return samples


def cold_series(launches: Sequence[Launch], *, runs: int, progress: Progress) -> dict[str, list[Startup]]:
    """Fresh-process starts (import + one invocation), interleaved; by launch key."""
    for launch in launches:
        cold_start(launch)  # discarded: writes bytecode, warms the file cache
    results: dict[str, list[Startup]] = {launch.key: [] for launch in launches}
    for run in range(runs):
        for launch in rotated(launches, run):
            results[launch.key].append(cold_start(launch))
        progress(f"  cold run {run + 1}/{runs}")
    return results
