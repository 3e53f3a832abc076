"""The theory wing stays free of torch and of adainf (DESIGN: one arrow, adainf.recommend -> bounds)."""

from __future__ import annotations

import subprocess
import sys


def test_bounds_imports_neither_torch_nor_adainf():
    code = (
        "import sys, bounds, bounds.spectrum, bounds.gap, bounds.bound, bounds.labeling, bounds.synthetic, bounds.graph; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'adainf')); "
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"bounds imported: {out.stdout.strip()} {out.stderr.strip()}"
