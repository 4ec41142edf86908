"""Compile every .py file under a directory to bytecode for the Lambda runtime's Python.

Run by the Python that matches the Lambda runtime (3.13): either a local `python3.13`, or
CPython 3.13 compiled to WebAssembly (the `pyodide` npm package, see `compile_bytecode.mjs`)
when no such interpreter is installed. Standard library only, no imports from the project.

Usage: python3.13 compile_tree.py <dir> <ddir>
Prints one JSON line: {"version": "3.13", "compiled": <n>, "failed": [<relative paths>]}.

The .pyc files use the UNCHECKED_HASH invalidation mode: the CDK zips assets with fixed
timestamps, so timestamp-checked .pyc files would be ignored and recompiled (and never
written, /var/task is read-only) on every cold start.
"""

import json
import os
import py_compile
import sys


def compile_tree(root: str, ddir: str) -> dict[str, object]:
    compiled = 0
    failed: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            try:
                py_compile.compile(
                    path,
                    dfile=os.path.join(ddir, rel),
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except (py_compile.PyCompileError, SyntaxError, UnicodeDecodeError, ValueError):
                failed.append(rel)
            else:
                compiled += 1
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return {"version": version, "compiled": compiled, "failed": failed}


def main(argv: list[str]) -> int:
    result = compile_tree(argv[1], argv[2])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
