"""Lint: no function or method longer than 60 lines (docstring included) in the library.

    python .ci/function_length.py [--max 60] [folders ...]   (default: jetclr_coffea training processors)

Prints one line per offender (``path:line: name is N lines``) and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("jetclr_coffea", "training", "processors")


def long_functions(path: Path, limit: int) -> list[str]:
    """``path:line: name is N lines`` for every function of ``path`` over ``limit`` lines."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            n = (node.end_lineno or node.lineno) - start + 1
            if n > limit:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} is {n} lines (> {limit})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=60)
    parser.add_argument("folders", nargs="*", default=list(FOLDERS))
    args = parser.parse_args(argv)
    found = [line for folder in args.folders for p in sorted((ROOT / folder).rglob("*.py"))
             for line in long_functions(p, args.max)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
