"""Import-graph check run by CI: no cycles, no private cross-package imports, no UI in the domain, lazy imports only where due.

Reads the source with `ast` (nothing is imported), so it is fast and safe. Exit 1 with one line per finding.
Rules (docs/ARCHITECTURE.md "Import graph"):
1. No import cycles among modules of `audit/`, counting imports inside functions too (a lazy import hides a cycle
   from Python, not from a reader).
2. No `from audit.<pkg>... import _private` from outside `audit.<pkg>`.
3. Nothing under `audit/` imports streamlit or the `app` package: UI lives in `app/`.
4. Imports inside functions only for heavy or optional libraries (HEAVY), for audit modules that import one at
   module level, in a `cli.py` module (commands import their implementation when run, so `audit --help` stays
   fast), or in a package `__init__` (a facade that resolves its names on first use, PEP 562).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Libraries slow to import or optional at run time: importing them inside the function that needs them is the rule.
HEAVY = {
    "torch", "torchvision", "open_clip", "faiss", "c2pa", "cv2", "pyspark", "diffusers", "skimage", "matplotlib",
    "imwatermark", "resvg_py", "transformers", "scipy", "streamlit", "pandas", "pyarrow", "imagehash", "sklearn",
    # Optional or native-extension libraries only some commands need (weights files, the hub, wavelets, OpenSSL).
    "safetensors", "huggingface_hub", "pywt", "cryptography",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers inside `if TYPE_CHECKING:` blocks (imports there are for type checkers only)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for sub in node.body:
                    for n in ast.walk(sub):
                        if hasattr(n, "lineno"):
                            lines.add(n.lineno)
    return lines


def imports(path: Path, root: Path = ROOT) -> Iterator[tuple[str, list[str], bool, int]]:
    """(imported module, imported names, inside a function?, line) for each import statement of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_checking_lines(tree)
    own = module_name(path, root)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, list[str], bool, int]]:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import) and child.lineno not in skip:
                for alias in child.names:
                    yield alias.name, [], in_function, child.lineno
            elif isinstance(child, ast.ImportFrom) and child.lineno not in skip:
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base]) if base else ".".join(anchor)
                yield base, [a.name for a in child.names], in_function, child.lineno
            yield from visit(child, inner)

    yield from visit(tree, False)


def lazy_exports_of(init: Path) -> dict[str, str]:
    """A package `__init__`'s `_EXPORTS = {"name": "module", ...}` (PEP 562 re-exports, see audit/lazy.py)."""
    tree = ast.parse(init.read_text(encoding="utf-8"), filename=str(init))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets)
                and isinstance(node.value, ast.Dict)):
            return {k.value: v.value for k, v in zip(node.value.keys, node.value.values)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
    return {}


def _resolve(target: str, names: list[str], modules: set[str], exports: dict[str, dict[str, str]] | None = None) -> list[str]:
    """The audit modules an import statement depends on: `from pkg import mod` names the submodule, and a name a
    package re-exports lazily loads the module it comes from (at the import, not at first use)."""
    out = []
    lazy = (exports or {}).get(target, {})
    for name in names:
        if f"{target}.{name}" in modules:
            out.append(f"{target}.{name}")
        elif lazy.get(name) in modules:
            out.append(lazy[name])
    if target in modules and len(out) < max(len(names), 1):
        out.append(target)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
            elif nxt not in index:
                index[nxt] = low[nxt] = counter
                counter += 1
                stack.append(nxt)
                on_stack.add(nxt)
                work.append((nxt, iter(sorted(graph.get(nxt, ())))))
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
    return found


def _ancestors(module: str) -> list[str]:
    """Packages whose __init__ runs when `module` is imported (audit.a.b -> audit, audit.a)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _heavy_at_import(
    found: dict[str, list[tuple[str, list[str], bool, int]]], modules: set[str], exports: dict[str, dict[str, str]]
) -> set[str]:
    """audit modules that pull a HEAVY library when imported (directly or through their top-level audit imports).

    A lazy import of such a module is a lazy import of a heavy library, so rule 4 allows it."""
    deps: dict[str, set[str]] = {m: set() for m in modules}
    heavy: set[str] = set()
    for own, found_imports in found.items():
        for target, names, in_function, _ in found_imports:
            if in_function:
                continue
            if target.split(".")[0] in HEAVY:
                heavy.add(own)
            elif target.split(".")[0] == "audit":
                for dep in _resolve(target, names, modules, exports):
                    deps[own].update(d for d in [*_ancestors(dep), dep] if d in modules and d != own)
    changed = True
    while changed:
        changed = False
        for m in modules - heavy:
            if deps[m] & heavy:
                heavy.add(m)
                changed = True
    return heavy


def check(root: Path = ROOT) -> list[str]:
    files = sorted((root / "audit").rglob("*.py"))
    names_of = {f: module_name(f, root) for f in files}
    modules = set(names_of.values())
    found = {names_of[f]: list(imports(f, root)) for f in files}
    exports = {names_of[f]: lazy_exports_of(f) for f in files if f.name == "__init__.py"}
    heavy = _heavy_at_import(found, modules, exports)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    problems: list[str] = []
    for f in files:
        own = names_of[f]
        own_pkg = ".".join(own.split(".")[:2])
        rel = f.relative_to(root)
        for target, names, in_function, line in found[own]:
            top = target.split(".")[0]
            if top in ("streamlit", "app"):
                problems.append(f"{rel}:{line}: imports {target}: UI code belongs in app/, not audit/")
            deps: list[str] = []
            if top == "audit":
                deps = _resolve(target, names, modules, exports)
                for dep in deps:
                    # Importing a.b.c at module level runs a/__init__ and a/b/__init__ too: a cycle through a
                    # package's __init__ breaks at import time like any other (packages the importer is inside are
                    # already loading; inside a function everything is loaded by the time it runs).
                    for d in [dep] if in_function else [*_ancestors(dep), dep]:
                        if d in modules and d != own and d not in _ancestors(own):
                            graph[own].add(d)
                target_pkg = ".".join(target.split(".")[:2])
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private and target_pkg != own_pkg:
                    problems.append(f"{rel}:{line}: imports private {', '.join(private)} from {target} (another package)")
            lazy_ok = top in HEAVY or (top == "audit" and bool(deps) and all(d in heavy for d in deps))
            exempt = f.name in ("cli.py", "__init__.py") or f.name.endswith("_cli.py")
            if in_function and not lazy_ok and not exempt:
                problems.append(f"{rel}:{line}: imports {target} inside a function: only heavy/optional libraries may be lazy")
    for comp in _cycles(graph):
        problems.append("import cycle: " + " <-> ".join(comp))
    return problems


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    print(f"import graph: {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
