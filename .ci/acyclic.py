#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a circle.

Reads the graph `cargo modules dependencies` prints (Graphviz dot) on stdin and keeps the "uses" edges between
modules: an edge A -> B means code in A names an item of B (a `use`, a path, an `impl` of B's type in A). cargo-modules'
own `--acyclic` works on items, where every type and its methods form a circle, so the check of the module graph
is here: Tarjan's strongly connected components, each of more than one module reported with its edges.
"""
import re
import sys


def main() -> int:
    edges: dict[str, set[str]] = {}
    for line in sys.stdin:
        match = re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="uses"', line)
        if match and match.group(1) != match.group(2):
            edges.setdefault(match.group(1), set()).add(match.group(2))
    if not edges:
        print("acyclic.py: no module edges read: is the input cargo modules' dot output?", file=sys.stderr)
        return 2
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for next_node in edges.get(node, ()):
            if next_node not in index:
                visit(next_node)
                low[node] = min(low[node], low[next_node])
            elif next_node in on_stack:
                low[node] = min(low[node], index[next_node])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    modules = {node for pair in edges.items() for node in (pair[0], *pair[1])}
    if not circles:
        print(f"no import circle among {len(modules)} modules")
        return 0
    for circle in circles:
        print(f"import circle of {len(circle)} modules:")
        for module in circle:
            print(f"  {module} -> {', '.join(sorted(edges[module] & set(circle)))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
