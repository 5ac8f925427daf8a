"""The benchmarks' positional arguments: ``-h``/``--help`` prints the script's docstring, and a value that
is not a number says which argument wanted one (instead of a traceback)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def positional(doc: str | None, index: int, default: _T, kind: Callable[[str], _T]) -> _T:
    """``sys.argv[index]`` as ``kind``, or ``default`` when it is not given."""
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(doc or "")
        raise SystemExit(0)
    if len(sys.argv) <= index:
        return default
    try:
        return kind(sys.argv[index])
    except ValueError:
        print(f"argument {index} must be a number, not {sys.argv[index]!r}\n\n{doc or ''}", file=sys.stderr)
        raise SystemExit(2) from None
