#!/usr/bin/env python3
"""Lists the module dependency cycles of a Rust crate; exits 1 if there is any.

Usage: scripts/module-cycles.py [--strict] [--edges] SRC_DIR [SRC_DIR ...]

SRC_DIR is a crate's source directory (e.g. crates/verify/src). Every crate root found in it
(lib.rs, main.rs, bin/*.rs, bin/*/main.rs) is a crate of its own. The module tree is found
by following `mod x;` declarations from the root (inline `mod x { .. }` blocks, such as
`mod tests`, are modules of their own).

An edge A -> B is a path in A's code (comments and string literals removed) that names module
B or an item in it: `crate::b::..`, `super::..`, `self::..`, a path starting with one of A's
child modules, and every leaf of a `use crate::{b::X, c::{Y, Z}}` tree. A path to an item
re-exported with `pub use` is followed to the module that defines the item. A module's own
inline child modules (`tests`) and ancestors in the same file are not edges.

A module with child modules (the crate root, a `mod.rs`) declares them, re-exports their API
and dispatches to them: by default its edges to its own descendants are left out (else every
child that uses an item of its parent, such as the crate's error type or a command's
arguments, would be one side of a cycle). Edges from a child to its parent count. --strict
counts every edge.

Output: per crate, each strongly connected set of modules (more than one module that can
reach each other), each pair importing each other, and one edge per step of a cycle with the
file and line of a reference. --edges prints the whole graph too. Exit 0: no cycle in any
crate; 1: a cycle; 2: usage error.
"""

import os
import re
import sys
from collections import defaultdict

IDENT = re.compile(r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*")


def tokenize(text):
    """Tokens (kind, value, line) with comments and string/char literals removed."""
    toks = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += text[i] == "\n"
                    i += 1
        elif re.match(r'(?:b|c)?r#*"', text[i:i + 260]):
            m = re.match(r'(?:b|c)?r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            line += text.count("\n", i, j)
            i = j
        elif c == '"' or (c in "bc" and text.startswith('"', i + 1)):
            i += 1 if c == '"' else 2
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                line += text[i] == "\n"
                i += 1
            i += 1
        elif c == "'" or (c == "b" and text.startswith("'", i + 1)):
            # A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            k = i + (1 if c == "'" else 2)
            m = re.match(r"\\(?:u\{[0-9a-fA-F]*\}|x[0-9a-fA-F]{2}|.)'|[^\\']'", text[k:k + 12])
            if m:
                i = k + m.end()
            else:
                m = IDENT.match(text, k)
                i = m.end() if m else k
        elif c.isalpha() or c == "_":
            m = IDENT.match(text, i)
            toks.append(("id", m.group(0).removeprefix("r#"), line))
            i = m.end()
        elif c.isdigit():
            m = re.match(r"[0-9][0-9A-Za-z_.]*", text[i:])
            i += m.end()
        elif text.startswith("::", i):
            toks.append(("p", "::", line))
            i += 2
        else:
            toks.append(("p", c, line))
            i += 1
    return toks


class Module:
    def __init__(self, path, file, parent, inline):
        self.path = path  # tuple of names from the crate root
        self.file = file
        self.parent = parent
        self.inline = inline
        self.children = {}
        self.refs = []  # (segments, line, is_pub_use)
        self.reexports = {}  # name -> segments (absolute, resolved later)

    @property
    def name(self):
        return "::".join(self.path) or "crate"


def child_file(dir_, name):
    for cand in (os.path.join(dir_, name + ".rs"), os.path.join(dir_, name, "mod.rs")):
        if os.path.isfile(cand):
            return cand
    return None


def use_tree(toks, i):
    """Parses a use tree at toks[i]; returns (list of (segments, alias), index after)."""
    prefix = []
    while i < len(toks):
        kind, val, _ = toks[i]
        if kind == "id":
            prefix.append(val)
            i += 1
            if i < len(toks) and toks[i][1] == "::":
                i += 1
                continue
            if i < len(toks) and toks[i][1] == "as":
                alias = toks[i + 1][1] if i + 1 < len(toks) else None
                return [(prefix, alias)], i + 2
            return [(prefix, None)], i
        if val == "*":
            return [(prefix + ["*"], None)], i + 1
        if val == "{":
            i += 1
            out = []
            while i < len(toks) and toks[i][1] != "}":
                if toks[i][1] == ",":
                    i += 1
                    continue
                sub, i = use_tree(toks, i)
                out += [(prefix + s, a) for s, a in sub]
            return out, i + 1
        if val == "::":
            i += 1
            continue
        break
    return [(prefix, None)], i


def is_pub_before(toks, i):
    """Whether the `use` at toks[i] is `pub use` or `pub(..) use`."""
    j = i - 1
    if j >= 0 and toks[j][1] == ")":
        while j >= 0 and toks[j][1] != "(":
            j -= 1
        j -= 1
    return j >= 0 and toks[j][1] == "pub"


def parse_module(crate, mod, toks):
    """Walks one file's tokens: child modules, references and re-exports."""
    i = 0
    stack = [(mod, 0)]  # (module, brace depth at which it closes)
    depth = 0
    while i < len(toks):
        kind, val, line = toks[i]
        cur = stack[-1][0]
        if val == "{":
            depth += 1
        elif val == "}":
            depth -= 1
            if len(stack) > 1 and depth == stack[-1][1]:
                stack.pop()
        if kind == "id" and val == "mod" and i + 2 < len(toks) and toks[i + 1][0] == "id":
            name = toks[i + 1][1]
            if toks[i + 2][1] == ";":
                if cur is mod and not cur.inline:
                    base = os.path.dirname(cur.file)
                    stem = os.path.basename(cur.file)[:-3]
                    if cur.parent is not None and stem != "mod":
                        base = os.path.join(base, stem)
                    f = child_file(base, name)
                    if f:
                        child = Module(cur.path + (name,), f, cur, False)
                        cur.children[name] = child
                        crate.pending.append(child)
                i += 3
                continue
            if toks[i + 2][1] == "{":
                child = Module(cur.path + (name,), cur.file, cur, True)
                cur.children[name] = child
                crate.modules[child.path] = child
                depth += 1
                stack.append((child, depth - 1))
                i += 3
                continue
        if kind == "id" and val == "use":
            is_pub = is_pub_before(toks, i)
            tree, j = use_tree(toks, i + 1)
            for segs, alias in tree:
                if segs and segs[-1] == "self":
                    segs = segs[:-1]
                if not segs:
                    continue
                cur.refs.append((segs, line, is_pub))
                if is_pub and segs[-1] != "*":
                    cur.reexports[alias or segs[-1]] = segs
            i = j
            continue
        # A path in code: an identifier followed by `::` that does not itself follow `::`.
        if (
            kind == "id"
            and i + 1 < len(toks)
            and toks[i + 1][1] == "::"
            and not (i > 0 and toks[i - 1][1] == "::")
            and not (i > 0 and toks[i - 1][1] == "$")
        ):
            segs, j = [val], i + 1
            while j + 1 < len(toks) and toks[j][1] == "::" and toks[j + 1][0] == "id":
                segs.append(toks[j + 1][1])
                j += 2
            cur.refs.append((segs, line, False))
            i = j
            continue
        i += 1


class Crate:
    def __init__(self, root_file):
        self.root = Module((), root_file, None, False)
        self.modules = {(): self.root}
        self.pending = [self.root]
        while self.pending:
            m = self.pending.pop()
            self.modules[m.path] = m
            with open(m.file, encoding="utf-8") as fh:
                parse_module(self, m, tokenize(fh.read()))

    def absolute(self, mod, segs):
        """`segs` as an absolute path (tuple) from the crate root, or None if external."""
        first = segs[0]
        if first == "crate":
            return tuple(segs[1:])
        if first in ("self", "super"):
            base = mod
            rest = list(segs)
            if rest[0] == "self":
                rest = rest[1:]
            while rest and rest[0] == "super":
                base = base.parent or base
                rest = rest[1:]
            return base.path + tuple(rest)
        if first in mod.children:
            return mod.path + tuple(segs)
        return None

    def resolve(self, path, seen=None):
        """The module that defines the item at absolute `path` (following re-exports)."""
        seen = seen or set()
        node = self.root
        rest = list(path)
        while rest and rest[0] in node.children:
            node = node.children[rest.pop(0)]
        if rest and rest[0] in node.reexports and (node.path, rest[0]) not in seen:
            seen.add((node.path, rest[0]))
            target = self.absolute(node, node.reexports[rest[0]])
            if target is not None:
                return self.resolve(target + tuple(rest[1:]), seen)
        return node

    def edges(self, strict):
        """{(a, b): (file, line)} for a -> b, a != b, not within one file's nesting."""
        out = {}
        for m in self.modules.values():
            for segs, line, _ in m.refs:
                p = self.absolute(m, segs)
                if p is None:
                    continue
                t = self.resolve(p)
                if t is m:
                    continue
                # An ancestor's edges to its own descendants (see the module docs).
                if not strict and t.path[: len(m.path)] == m.path:
                    continue
                # The module's own inline children and its enclosing modules in one file.
                if t.file == m.file and (t.path[: len(m.path)] == m.path or m.path[: len(t.path)] == t.path):
                    continue
                key = (m.name, t.name)
                if key not in out:
                    out[key] = (os.path.relpath(m.file), line)
        return out


def sccs(nodes, adj):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def shortest_cycle(comp, adj):
    """A shortest cycle through the component's first module (BFS)."""
    start = comp[0]
    members = set(comp)
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(adj[v]):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]


def crate_roots(src):
    roots = [os.path.join(src, f) for f in ("lib.rs", "main.rs") if os.path.isfile(os.path.join(src, f))]
    bindir = os.path.join(src, "bin")
    if os.path.isdir(bindir):
        for f in sorted(os.listdir(bindir)):
            p = os.path.join(bindir, f)
            if f.endswith(".rs"):
                roots.append(p)
            elif os.path.isfile(os.path.join(p, "main.rs")):
                roots.append(os.path.join(p, "main.rs"))
    return roots


def main(argv):
    strict = "--strict" in argv
    show_edges = "--edges" in argv
    dirs = [a for a in argv if not a.startswith("--")]
    if not dirs or any(a not in ("--strict", "--edges") for a in argv if a.startswith("--")):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    found = False
    for src in dirs:
        roots = crate_roots(src)
        if not roots:
            print(f"{src}: no lib.rs, main.rs or bin/*.rs", file=sys.stderr)
            return 2
        for root in roots:
            crate = Crate(root)
            edges = crate.edges(strict)
            adj = defaultdict(set)
            for a, b in edges:
                adj[a].add(b)
            names = {m.name for m in crate.modules.values()}
            cyclic = [c for c in sccs(names, adj) if len(c) > 1]
            label = os.path.relpath(root)
            print(f"{label}: {len(names)} modules, {len(edges)} edges, "
                  f"{'no cycle' if not cyclic else f'{len(cyclic)} cyclic set(s)'}")
            if show_edges:
                for (a, b), (f, line) in sorted(edges.items()):
                    print(f"  edge {a} -> {b}  ({f}:{line})")
            for comp in cyclic:
                found = True
                print(f"  cycle among: {', '.join(comp)}")
                pairs = sorted((a, b) for (a, b) in edges if a < b and (b, a) in edges
                               and a in comp and b in comp)
                for a, b in pairs:
                    print(f"    pair {a} <-> {b}")
                cyc = shortest_cycle(comp, adj)
                for a, b in zip(cyc, cyc[1:]):
                    f, line = edges[(a, b)]
                    print(f"    {a} -> {b}  ({f}:{line})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
