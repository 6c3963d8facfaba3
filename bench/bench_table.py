"""What the bench/run_*.sh scripts' result tables share: reading the JSON a run left in the
results folder, formatting numbers and ratios, and printing a Markdown table.

Used from the scripts' Python heredocs, which put bench/ on sys.path first."""

import json
import os


def load(res, name):
    """The JSON object of run NAME in folder RES ({} if the run left nothing readable)."""
    try:
        with open(os.path.join(res, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def get(d, *path):
    """d[path[0]][path[1]]..., or None where a step is missing."""
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def num(v, digits=0):
    """A number with thousands separators; '-' for None; a string as it is."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:,.{digits}f}"


def ratio(a, b):
    """a / b as '12.3x', '1.23x' or '0.012x'; '-' unless both are numbers and b is not 0."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return "-"
    r = a / b
    if r >= 10:
        return f"{r:,.1f}x"
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def check(ok):
    """The 'met' column: yes / NO, '-' for no target (None), 'n/a' as it is."""
    if ok == "n/a":
        return "n/a"
    return "-" if ok is None else ("yes" if ok else "NO")


def print_table(head, rows):
    """A Markdown table between blank lines: the first column left-aligned, the rest right."""
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]

    def fmt(cells):
        return "| " + " | ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    print()
    print(fmt(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(fmt(r))
    print()
