"""test_layout.py - the code's shape (issue 12): every external symbol of
the library's and preforkd's objects carries its file's prefix (pf_ for
the public API), read with `nm -g --defined-only` from the build; no
source file under src/ is over 600 lines."""
import os
import re
import shutil
import subprocess

import harness

BUILDDIR = os.environ.get("PREFORK_BUILDDIR", ".")
SRCDIR = os.environ.get("PREFORK_SRCDIR", ".")
MAX_LINES = 600

# Known exceptions, each with its reason; keep this list short.
ALLOWED = {
    "main",             # preforkd.c
    "conn_timeout",     # the conn layer's shared helper (being moved to its own file)
    "conn_wait_fd",
}


def objects():
    """{file stem: [object paths]} of libpfcore, libprefork and preforkd."""
    found = {}
    pat = re.compile(r"^(?:libpfcore_la-|libprefork_la-|preforkd-)?(.+)\.o$")
    for root, dirs, files in os.walk(os.path.join(BUILDDIR, "src")):
        if os.sep + "client" in root or root.endswith(".libs"):
            continue
        for f in files:
            if not (f.startswith(("libpfcore_la-", "libprefork_la-", "preforkd-"))
                    or f == "preforkd.o"):
                continue
            m = pat.match(f)
            if m:
                found.setdefault(m.group(1), []).append(os.path.join(root, f))
    return found


def unprefixed(stem, path):
    out = subprocess.run(["nm", "-g", "--defined-only", path], capture_output=True,
                         text=True, check=True).stdout
    bad = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        sym = parts[2]
        # The compiler's own (reserved names: __odr_asan.X under sanitizers, gcov's).
        if sym.startswith("__"):
            continue
        if sym in ALLOWED or sym == stem or sym.startswith((stem + "_", "pf_")):
            continue
        bad.append(sym)
    return bad


def test_every_external_symbol_carries_its_files_prefix():
    if shutil.which("nm") is None:
        raise harness.Skip("nm (binutils) is not installed")
    objs = objects()
    if not objs:
        raise harness.Skip("no object files under %s/src" % BUILDDIR)
    # The check must see the files it is about.
    for stem in ("signals", "master", "worker", "echo", "paths"):
        assert stem in objs, (stem, sorted(objs))
    bad = []
    for stem, paths in sorted(objs.items()):
        for path in paths:
            for sym in unprefixed(stem, path):
                bad.append("%s: %s" % (os.path.relpath(path, BUILDDIR), sym))
    assert not bad, "external symbols without their file's prefix:\n" + "\n".join(bad)


def test_no_source_file_is_over_600_lines():
    counts = {}
    for root, dirs, files in os.walk(os.path.join(SRCDIR, "src")):
        for f in files:
            if f.endswith((".c", ".h")):
                path = os.path.join(root, f)
                with open(path, "rb") as fh:
                    counts[os.path.relpath(path, SRCDIR)] = fh.read().count(b"\n")
    # The check must see the files it is about.
    assert "src/master/master.c" in counts and "src/prefork.h" in counts, sorted(counts)
    over = sorted((n, p) for p, n in counts.items() if n > MAX_LINES)
    assert not over, "source files over %d lines: %s" % (MAX_LINES, over)


harness.main(globals())
