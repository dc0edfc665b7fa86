#!/usr/bin/env python3
"""Resolve the closure of golang-*-dev packages needed to build the API server wrapper.

Reads a Debian Packages index on stdin, starts from the package names given as arguments and follows
`Depends` (first satisfiable alternative, virtual packages through `Provides`) but only into
packages named golang-* : the Go sources and the toolchain. Everything else (libc, perl, …) is
ignored because a GOPATH build needs only the source trees and the compiler.

Prints one `name=version` per line, sorted, so the list doubles as a cache key.
"""
import re
import sys


def parse(stream):
    pkgs, provides = {}, {}
    cur = {}
    last = None
    for line in stream:
        line = line.rstrip("\n")
        if not line:
            if cur.get("Package"):
                add(cur, pkgs, provides)
            cur, last = {}, None
            continue
        if line[0] in " \t" and last:
            cur[last] += " " + line.strip()
            continue
        key, _, val = line.partition(":")
        cur[key] = val.strip()
        last = key
    if cur.get("Package"):
        add(cur, pkgs, provides)
    return pkgs, provides


def add(cur, pkgs, provides):
    name = cur["Package"]
    # NB: sid may carry several versions of one package briefly; the last stanza wins, which is
    # what apt-get download picks too when versions are equal, and a newer one otherwise.
    pkgs[name] = cur
    for p in split_list(cur.get("Provides", "")):
        provides.setdefault(p, []).append(name)


def split_list(field):
    out = []
    for item in field.split(","):
        item = item.strip()
        if not item:
            continue
        out.append(re.sub(r"\s*[\(\[<].*$", "", item).split(":")[0].strip())
    return out


def relevant(name):
    # Source packages only: the toolchain is given explicitly as a root, and dev packages that
    # "Depend" on golang-go/golang-any would otherwise drag in a second toolchain.
    return name.startswith("golang-") and name.endswith("-dev")


def toolchain(pkgs, preferred):
    """The Go compiler package: the preferred one while sid has it, else the one golang-go uses."""
    if preferred in pkgs:
        return preferred
    for dep in split_list(pkgs.get("golang-go", {}).get("Depends", "")):
        if re.fullmatch(r"golang-1\.\d+-go", dep) and dep in pkgs:
            return dep
    sys.exit(f"resolve-sid-deps: neither {preferred} nor golang-go's compiler is in the sid index")


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--go", default="golang-1.26-go", help="preferred Go compiler package")
    ap.add_argument("roots", nargs="+", help="golang-*-dev packages to build from")
    args = ap.parse_args()
    pkgs, provides = parse(sys.stdin)
    go = toolchain(pkgs, args.go)
    go_src = go.replace("-go", "-src")
    seen, todo, missing = set(), list(args.roots), []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in pkgs:
            cands = provides.get(name, [])
            if not cands:
                missing.append(name)
                continue
            name = sorted(cands)[0]
            if name in seen:
                continue
        seen.add(name)
        stanza = pkgs[name]
        deps = stanza.get("Depends", "") + "," + stanza.get("Pre-Depends", "")
        for group in deps.split(","):
            alts = [a for a in split_list(group.replace("|", ",")) if relevant(a)]
            if not alts:
                continue
            chosen = next((a for a in alts if a in pkgs or a in provides), None)
            if chosen is None:
                missing.append(alts[0])
                continue
            todo.append(chosen)
    if missing:
        sys.exit("resolve-sid-deps: not in the sid index: " + ", ".join(sorted(set(missing))))
    for extra in (go, go_src):
        if extra not in pkgs:
            sys.exit(f"resolve-sid-deps: {extra} is not in the sid index")
        seen.add(extra)
    print(f"GO {go}")
    for name in sorted(seen):
        version, arch = pkgs[name]["Version"], pkgs[name]["Architecture"]
        # The file name `apt-get download` gives it (an epoch's ':' is URL-encoded).
        print(f"{name}={version} {name}_{version.replace(':', '%3a')}_{arch}.deb")


if __name__ == "__main__":
    main()
