#!/usr/bin/env python3
"""Mutation score per package from PIT's mutations.xml (the 'mutation' Maven profile runs this after PIT).

    pit-summary.py [--min PERCENT] [--packages a,b,...] [--equivalent FILE] [--survivors] mutations.xml...

A package is the segment after 'dev.panamadiffusion.' (so 'models' counts models.clip, models.unet, ...); its
sub-packages get a line of their own. Score = detected / (mutants - equivalent), where detected is PIT's: KILLED,
TIMED_OUT, MEMORY_ERROR and RUN_ERROR; SURVIVED and NO_COVERAGE are not. --equivalent names a file of mutants that
were reviewed and cannot change observable behaviour (one per line, tab-separated: class, method, line, mutator and
PIT's description, then the reason after '#'; the line may be LINE/INDEX, with the bytecode index PIT reports,
where one line has two alike mutants); a listed mutant that PIT still reports as surviving is counted as equivalent, not as a
survivor. Exits 1 when a package scores under --min (default 0: report only) or a listed package has no mutants.
"""
import argparse
import collections
import os
import sys
import xml.etree.ElementTree as ET

ROOT = "dev.panamadiffusion."
DETECTED = {"KILLED", "TIMED_OUT", "MEMORY_ERROR", "RUN_ERROR"}


def package_of(cls):
    pkg = cls.rsplit(".", 1)[0]
    return pkg[len(ROOT):] if pkg.startswith(ROOT) else pkg


def load_equivalent(path):
    keys = set()
    if not path:
        return keys
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].rstrip("\n")
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("\t") if p.strip()]
            if len(parts) != 5:
                sys.exit(f"pit-summary: {path}: want 5 tab-separated fields (class method line mutator description): {line!r}")
            keys.add(tuple(parts))
    return keys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min", type=float, default=0.0)
    ap.add_argument("--packages", default="")
    ap.add_argument("--equivalent", default="")
    ap.add_argument("--survivors", action="store_true", help="list each surviving or uncovered mutant")
    ap.add_argument("reports", nargs="+")
    a = ap.parse_args()

    equivalent = load_equivalent(a.equivalent)
    used = set()
    counts = collections.defaultdict(collections.Counter)
    survivors = []
    found = False
    for report in a.reports:
        if not os.path.exists(report):
            print(f"pit-summary: no PIT report at {report} (PIT skipped?)")
            continue
        found = True
        for m in ET.parse(report).getroot().iter("mutation"):
            cls = m.findtext("mutatedClass")
            outer = cls.split("$", 1)[0]
            status = m.get("status")
            key = (cls, m.findtext("mutatedMethod"), m.findtext("lineNumber"), m.findtext("mutator").rsplit(".", 1)[-1],
                   m.findtext("description"))
            indexed = key[:2] + (key[2] + "/" + (m.findtext("indexes/index") or ""),) + key[3:]
            listed = indexed if indexed in equivalent else key if key in equivalent else None
            if status in DETECTED:
                kind = "killed"
            elif listed:
                kind = "equivalent"
                used.add(listed)
            else:
                kind = "survived" if status == "SURVIVED" else "no coverage"
                survivors.append((outer, int(key[2]), key[1], key[3], key[4], kind))
            pkg = package_of(outer)
            top = pkg.split(".", 1)[0]
            for p in {pkg, top}:
                counts[p][kind] += 1
                counts[p]["mutants"] += 1
    if not found:
        return 0

    wanted = [p for p in a.packages.split(",") if p] or sorted({p.split(".", 1)[0] for p in counts})
    rows, failed = [], []
    for top in wanted:
        names = [top] + sorted(p for p in counts if p.startswith(top + "."))
        for p in names:
            c = counts[p]
            scored = c["mutants"] - c["equivalent"]
            score = 100.0 * c["killed"] / scored if scored else float("nan")
            rows.append((p if p == top else "  " + p, c, score))
            if p == top and (not scored or score < a.min):
                failed.append(f"{top} {score:.1f}%" if scored else f"{top}: no mutants")

    print()
    print("Mutation score per package (PIT; score = killed / (mutants - equivalent)):")
    print(f"  {'package':<22} {'mutants':>7} {'killed':>7} {'survived':>8} {'no cov':>6} {'equiv':>5} {'score':>7}")
    for name, c, score in rows:
        print(f"  {name:<22} {c['mutants']:>7} {c['killed']:>7} {c['survived']:>8} {c['no coverage']:>6} "
              f"{c['equivalent']:>5} {score:>6.1f}%")
    if a.survivors:
        print()
        for outer, line, method, mutator, desc, kind in sorted(survivors):
            print(f"  {kind:<11} {outer}:{line} {method} {mutator}: {desc}")
    stale = {k for k in equivalent if k not in used and package_of(k[0].split("$", 1)[0]).split(".", 1)[0] in wanted}
    for k in sorted(stale):
        print(f"pit-summary: listed as equivalent but not a surviving mutant now (killed, or the code moved): {' '.join(k)}")
    if failed:
        print(f"pit-summary: under the minimum of {a.min:g}%: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
