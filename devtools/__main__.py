"""`python -m devtools ...` is the same as the `mcp-lambda` console script."""

from devtools.cli import main

raise SystemExit(main())
