#!/usr/bin/env python3
"""Prints the import cycles between the modules of a Rust crate; exits 1 if there is one.

Usage: scripts/module-cycles.py SRC_DIR [--exclude MODULE_PREFIX ...]
  e.g. scripts/module-cycles.py src --exclude dev_idp

Each .rs file is one module (`foo.rs` and `foo/mod.rs` are `foo`, `lib.rs` the root; a
`main.rs` beside `lib.rs` is another crate and is skipped).
An edge A -> B is any `crate::…`, `super::…` or `child::…` path in A (in `use` or inline)
naming module B or an item in it: B is the longest prefix of the path that is a module.
Not counted: a file's own `#[cfg(test)] mod tests { use super::*; }`, `mod x;` declarations,
and a parent's re-exports of its children (`pub use child::Item;`): a facade, not a use.
"""
import re
import sys
from pathlib import Path

USE = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]*);")
PATH = re.compile(r"(?<![\w:])(\w+)((?:::(?:\w+|\*))+)")


def module_of(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def strip_tests_and_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    # Drop `#[cfg(test)] mod tests { … }` up to the end of the file (by convention it is last).
    return re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)[0]


def resolve(module: tuple, path: str) -> tuple:
    """The segments `crate::a::b` or `super::a` name, from the crate root."""
    head, *rest = path.split("::")
    base = {"crate": [], "super": list(module[:-1])}.get(head, list(module) + [head])
    for segment in rest:
        if segment == "super":
            base.pop()
        elif segment not in ("self", "*"):
            base.append(segment)
    return tuple(base)


def expand(tree: str):
    """`a::{b, c::{d, e as f}}` -> a::b, a::c::d, a::c::e."""
    head, brace, body = tree.partition("{")
    if not brace:
        yield tree.split(" as ")[0].strip()
        return
    depth, item = 0, ""
    for ch in body.rstrip().removesuffix("}") + ",":
        if ch == "," and depth == 0:
            if item.strip():
                yield from expand(head + item.strip())
            item = ""
            continue
        depth += (ch == "{") - (ch == "}")
        item += ch


def paths_in(text: str, children: set):
    """The `crate::…`, `super::…` and `child::…` paths of a file: `use` trees expanded (except
    `pub use child::…`, a re-export), and paths inline in code."""
    ours = lambda path: path.split("::")[0] in {"crate", "super"} | children
    for m in USE.finditer(text):
        for path in expand(re.sub(r"\s+", " ", m.group(2))):
            if ours(path) and not (m.group(1) and path.split("::")[0] in children):
                yield path
    for m in PATH.finditer(USE.sub("", text)):
        if ours(m.group(0)):
            yield m.group(0)


def graph(src: Path, exclude: list) -> dict:
    # main.rs next to lib.rs is its own crate, which reaches the library as `oidc_bff::`.
    files = {module_of(src, f): f for f in sorted(src.rglob("*.rs")) if f != src / "main.rs"}
    skip = lambda m: any("::".join(m).startswith(e) for e in exclude)
    edges = {m: set() for m in files if not skip(m)}
    for module in edges:
        children = {m[-1] for m in files if m[:-1] == module and m}
        for path in paths_in(strip_tests_and_comments(files[module].read_text()), children):
            target = resolve(module, path)
            while target not in files:
                target = target[:-1]
            if target != module and not skip(target):
                edges[module].add(target)
    return edges


def cycles(edges: dict) -> list:
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def main(argv: list) -> int:
    src, exclude = Path(argv[0]), []
    if "--exclude" in argv:
        exclude = argv[argv.index("--exclude") + 1 :]
    edges = graph(src, exclude)
    name = lambda m: "::".join(("crate",) + m)
    found = cycles(edges)
    for component in found:
        inside = [f"  {name(a)} -> {name(b)}" for a in component for b in sorted(edges[a]) if b in component]
        print(f"cycle between {', '.join(map(name, component))}:", *inside, sep="\n")
    if not found:
        print(f"no cycles among {len(edges)} modules of {src}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
