"""test_cycles.py - the one-way core (issue 12), read from the build: no
two source files of the library or preforkd call each other, directly or
around a circle (functions and variables, from `nm` of the object files)."""
import os
import re
import shutil
import subprocess

import harness

BUILDDIR = os.environ.get("PREFORK_BUILDDIR", ".")
PAT = re.compile(r"^(?:libpfcore_la-|libprefork_la-|preforkd-)(.+)\.o$")


def objects():
    """{source path relative to src/ without .c: object path}, one object per source."""
    found = {}
    for root, dirs, files in os.walk(os.path.join(BUILDDIR, "src")):
        dirs[:] = [d for d in dirs if d not in (".libs", "client")]
        for f in sorted(files):
            m = PAT.match(f)
            if m:
                rel = os.path.relpath(os.path.join(root, m.group(1)), os.path.join(BUILDDIR, "src"))
                found.setdefault(rel, os.path.join(root, f))
    return found


def symbols(path):
    """(defined external symbols, undefined symbols) of one object file."""
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    defined, wanted = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            wanted.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRCGSV":
            defined.add(parts[2])
    return defined, wanted


def strongly_connected(graph):
    """Tarjan's algorithm over {node: set(nodes)}: the components of more than one node."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def call_graph():
    objs = objects()
    owner, wants = {}, {}
    for name, path in objs.items():
        defined, wanted = symbols(path)
        wants[name] = wanted
        for sym in defined:
            owner[sym] = name
    graph = {name: set() for name in objs}
    for name, wanted in wants.items():
        for sym in wanted:
            if sym in owner and owner[sym] != name:
                graph[name].add(owner[sym])
    return graph


def test_cycle_finder_finds_a_cycle():
    # The finder itself, on a made-up graph: a -> b -> c -> a, d -> a.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_files_call_each_other_in_a_circle():
    if shutil.which("nm") is None:
        raise harness.Skip("nm (binutils) is not installed")
    graph = call_graph()
    for must in ("master/master", "worker/worker", "worker/conn", "config/config"):
        assert must in graph, (must, sorted(graph))
    # The graph has edges where layers call down (the check sees real calls).
    assert "core/log" in graph["master/master"], sorted(graph["master/master"])
    cycles = strongly_connected(graph)
    assert not cycles, "files that call each other in a circle:\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


harness.main(globals())
