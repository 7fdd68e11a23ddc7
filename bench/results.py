"""The results.tsv of frontdoor.sh and tls.sh: one tab-separated row per run, test and proxy first."""
import statistics
from collections import defaultdict


def load(path):
    """Rows grouped by (test, proxy)."""
    rows = defaultdict(list)
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        rows[(f[0], f[1])].append(f)
    return rows


def median(rows, test, proxy, col):
    """The median of column col over the rounds of (test, proxy); nan when there are none."""
    vals = [float(r[col]) for r in rows.get((test, proxy), []) if r[col] not in ("", "nan")]
    return statistics.median(vals) if vals else float("nan")
