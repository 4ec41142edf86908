"""Benchmarks of the MCP Lambda handler and the authorizer, side by side with the alternatives.

Run with `make bench` (or `python -m bench`; `python -m bench --quick` for a smoke run). Every
figure in `bench/results.md` comes from one run on one machine, with the contenders interleaved
so that noise from a shared machine hits them alike. See `bench/__main__.py` for the options
and issue 7 for what is measured and why.
"""
