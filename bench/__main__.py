"""`python -m bench` (what `make bench` runs) and `python -m bench --quick` (a smoke run).

The full run writes `bench/results.md` and `bench/PROFILE.md` and prints the results. `--quick`
measures a few calls per contender, builds no published alternative's virtualenv and no bundle
(it uses them when cached), and writes to `bench/.envs/` so it never overwrites the real
results; it exits non-zero only if the benchmark itself breaks, never because a target fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.layout import ENVS_DIR, PROFILE, RESULTS
from bench.plan import FULL, QUICK
from bench.registry import BASELINE
from bench.report import render
from bench.run import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny smoke run (< 60 s), writes under bench/.envs/"
    )
    parser.add_argument("--output", type=Path, help="where to write the results (default: bench/results.md)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    results = args.output or (ENVS_DIR / "results-quick.md" if args.quick else RESULTS)
    profile = ENVS_DIR / "PROFILE-quick.md" if args.quick else PROFILE

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    outcome = run(plan, progress)
    text = render(outcome.report, BASELINE)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text, encoding="utf-8")
    profile.write_text("\n".join(outcome.profile), encoding="utf-8")
    print(text)
    print(f"written: {results}, {profile}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
