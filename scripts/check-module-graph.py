#!/usr/bin/env python3
"""Checks that the module graph in docs/architecture.md is the one the sources import.

The doc's graph is the fenced block after the line `<!-- module graph -->`: one line per module,
`Module: Dependency, Dependency` (`-` for none). For every target folder under Sources/, the
modules its files import (system modules excluded) must be exactly the doc's list for it, every
module must be in the doc, and the graph must have no cycle. Prints one summary line; exit 1 on
any difference, naming it.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Modules from the toolchain, the C library and outside packages: not part of the layering.
EXTERNAL = {"Glibc", "Musl", "Darwin", "Foundation", "FoundationEssentials", "Synchronization", "XCTest",
            "ArgumentParser", "Dispatch"}


def documented_graph():
    text = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    m = re.search(r"<!-- module graph -->\s*```[a-z]*\n(.*?)```", text, re.S)
    if not m:
        sys.exit("check-module-graph: docs/architecture.md has no `<!-- module graph -->` block")
    graph = {}
    for line in m.group(1).strip().splitlines():
        name, _, deps = line.partition(":")
        deps = deps.strip()
        graph[name.strip()] = set() if deps == "-" else {d.strip() for d in deps.split(",")}
    return graph


def imported_graph():
    graph = {}
    sources = os.path.join(ROOT, "Sources")
    for target in sorted(os.listdir(sources)):
        imports = set()
        for folder, _, files in os.walk(os.path.join(sources, target)):
            for f in files:
                path = os.path.join(folder, f)
                if f.endswith(".swift"):
                    for m in re.finditer(r"^\s*(?:@_exported |@testable )?import (\w+)", open(path, encoding="utf-8").read(), re.M):
                        imports.add(m.group(1))
                elif f == "module.modulemap" or f.endswith((".c", ".h")):
                    pass  # C targets: their dependencies are declared in Package.swift only
        graph[target] = imports - EXTERNAL - {target}
    return graph


def main():
    doc, real = documented_graph(), imported_graph()
    problems = []
    for target, imports in real.items():
        if target not in doc:
            problems.append(f"{target} is not in docs/architecture.md")
            continue
        if target.startswith("C") and not imports:
            continue  # a C or system-library target: nothing to compare
        if imports != doc[target]:
            problems.append(f"{target} imports {sorted(imports)}, docs/architecture.md says {sorted(doc[target])}")
    for target in doc:
        # C modules may live outside Sources/ (CSLMHeader is include/module.modulemap).
        if target not in real and not target.startswith("C"):
            problems.append(f"docs/architecture.md names {target}, which Sources/ does not have")
    # No cycle: a depth-first walk never meets a module on its own path.
    state = {}

    def visit(node, path):
        if state.get(node) == "open":
            problems.append("cycle: " + " -> ".join(path + [node]))
            return
        if state.get(node) == "done":
            return
        state[node] = "open"
        for dep in sorted(doc.get(node, ())):
            visit(dep, path + [node])
        state[node] = "done"

    for node in sorted(doc):
        visit(node, [])
    if problems:
        for p in problems:
            print("module graph: " + p, file=sys.stderr)
        print(f"module graph: {len(problems)} difference(s) from docs/architecture.md")
        sys.exit(1)
    print(f"module graph: {len(real)} modules, acyclic, as docs/architecture.md draws it")


if __name__ == "__main__":
    main()
