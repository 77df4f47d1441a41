"""Lint: no ``dict[str, Any]`` / ``Mapping[str, Any]`` in a public signature of the library.

    python .ci/public_types.py [folders ...]   (default: jetclr_coffea training processors)

Public: a function, method or dataclass field whose name and enclosing classes' names do not
start with an underscore (dunders included: pickling's ``__getstate__`` is coffea's and
pickle's protocol, not a contract between layers, so dunders are skipped).  A JSON document
crossing layers is typed ``JsonObject`` / ``JsonDict`` (``jetclr_coffea._io``): read by key
only in the module that writes it.  Prints ``path:line: name`` per offender, exits 1 if any.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("jetclr_coffea", "training", "processors")
UNTYPED = re.compile(r"\b(dict|Mapping|MutableMapping)\[str, Any\]")


def _offenders(node: ast.AST, src: str, path: Path, scope: str) -> list[str]:
    out = []
    for ch in ast.iter_child_nodes(node):
        if isinstance(ch, ast.FunctionDef | ast.AsyncFunctionDef) and not ch.name.startswith("_"):
            parts = [ast.get_source_segment(src, ch.args) or ""]
            parts += [ast.get_source_segment(src, ch.returns) or ""] if ch.returns else []
            if UNTYPED.search(" ".join(parts)):
                out.append(f"{path.relative_to(ROOT)}:{ch.lineno}: {scope}{ch.name}")
        elif isinstance(ch, ast.ClassDef) and not ch.name.startswith("_"):
            for st in ch.body:
                if (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
                        and not st.target.id.startswith("_")
                        and UNTYPED.search(ast.get_source_segment(src, st.annotation) or "")):
                    out.append(f"{path.relative_to(ROOT)}:{st.lineno}: {scope}{ch.name}.{st.target.id}")
            out += _offenders(ch, src, path, f"{scope}{ch.name}.")
    return out


def untyped_signatures(path: Path) -> list[str]:
    """``path:line: name`` for every public signature of ``path`` with an untyped dict."""
    src = path.read_text()
    return _offenders(ast.parse(src, filename=str(path)), src, path, "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", default=FOLDERS)
    args = parser.parse_args()
    found = [line for folder in args.folders for path in sorted((ROOT / folder).rglob("*.py"))
             for line in untyped_signatures(path)]
    print("\n".join(found) or "no public signature with dict[str, Any]")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
