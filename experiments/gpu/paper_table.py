"""The measured table next to the paper's numbers, from a GPU script's plan and its runs' `--json` results.

    python experiments/gpu/paper_table.py OUT PLAN STEM

PLAN is a tab-separated file (setting, method, name, expected); OUT/<name>.json holds each run's last `adainf
train --json` line. Writes OUT/STEM.csv and OUT/STEM.md and prints the markdown table (used by table1.sh and
data_scarce.sh).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

COLUMNS = ("setting", "method", "steps", "online_linear_top1", "knn_top1", "expected_linear", "diff", "run_dir")


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 2)


def rows(out: Path, plan: Path) -> list[dict]:
    found = []
    with plan.open() as fh:
        for p in csv.DictReader(fh, delimiter="\t"):
            lines = [ln for ln in (out / f"{p['name']}.json").read_text().splitlines() if ln.startswith("{")]
            r = json.loads(lines[-1])
            lin = r.get("online_linear_top1")
            exp = float(p["expected"]) if p["expected"] else None
            found.append({"setting": p["setting"], "method": p["method"], "steps": r["steps"],
                          "online_linear_top1": _pct(lin), "knn_top1": _pct(r.get("knn_top1")),
                          "expected_linear": exp,
                          "diff": None if lin is None or exp is None else round(100 * lin - exp, 2),
                          "run_dir": r["run_dir"]})
    return found


def main() -> None:
    out, plan, stem = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    table = rows(out, plan)
    with (out / f"{stem}.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(table)

    def fmt(v: object) -> str:
        return "–" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    md = ["| setting | method | steps | linear % (online) | kNN % | paper linear % | diff | run |",
          "|---|---|---:|---:|---:|---:|---:|---|"]
    md += ["| " + " | ".join(fmt(r[k]) for k in COLUMNS) + " |" for r in table]
    (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"# wrote {out / f'{stem}.csv'} and {out / f'{stem}.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
