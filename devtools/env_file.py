"""Read a `.env` file into the environment, for the `mcp-lambda` CLI and the CDK app.

Precedence: a variable already in the environment wins (even when empty); `.env` only fills
in what is unset. That is what python-dotenv does by default and what `docker compose` does,
so a value given on the command line (`PORT=9000 make dev`) is never overridden by the file.

The syntax is the common subset of python-dotenv and docker compose:

- `NAME=value`, optionally after `export `; blank lines and lines starting with `#` are skipped;
- unquoted values are trimmed, and ` #` (whitespace, then `#`) starts a comment;
- `'single quoted'` values are literal; `"double quoted"` values understand `\\n`, `\\t`,
  `\\r`, `\\"` and `\\\\` (any other backslash is kept as written);
- no `${VAR}` expansion and no values spanning lines: such lines are errors, not guesses.

A line that is not one of these stops with its line number. The line itself is never quoted
back: `.env` files hold settings that should not reach a terminal log.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Final

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class EnvFileError(ValueError):
    """A line of the file is not `NAME=value`; the message names the file and line number."""


def parse_env_file(text: str, source: str = ".env") -> dict[str, str]:
    """The variables `text` sets, in order; a later line for the same name wins."""
    values: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            raise EnvFileError(f"{source} line {number}: expected NAME=value (NAME: letters, digits, _)")
        try:
            values[name] = _value(rest.strip())
        except ValueError as exc:
            raise EnvFileError(f"{source} line {number} ({name}): {exc}") from None
    return values


def _value(rest: str) -> str:
    if not rest:
        return ""
    quote = rest[0]
    if quote == "'":
        end = rest.find("'", 1)
        if end < 0:
            raise ValueError("the opening ' has no closing ' on the same line")
        return _after_quote(rest, end, rest[1:end])
    if quote == '"':
        chars: list[str] = []
        index = 1
        while index < len(rest):
            char = rest[index]
            if char == "\\" and index + 1 < len(rest):
                following = rest[index + 1]
                chars.append(_ESCAPES.get(following, "\\" + following))
                index += 2
                continue
            if char == '"':
                return _after_quote(rest, index, "".join(chars))
            chars.append(char)
            index += 1
        raise ValueError('the opening " has no closing " on the same line')
    # Unquoted: a comment starts at whitespace followed by '#' (so `a#b` stays whole).
    match = re.search(r"\s#", rest)
    return (rest[: match.start()] if match else rest).strip()


def _after_quote(rest: str, end: int, value: str) -> str:
    tail = rest[end + 1 :].strip()
    if tail and not tail.startswith("#"):
        raise ValueError("only a # comment may follow the closing quote")
    return value


def load_env_file(path: Path, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set each variable of `path` that `environ` (default: `os.environ`) lacks.

    Returns the names that were set. A missing file sets nothing; an unreadable or malformed
    one raises `EnvFileError`.
    """
    target = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    loaded = []
    for name, value in parse_env_file(text, str(path)).items():
        if name not in target:
            target[name] = value
            loaded.append(name)
    return loaded
