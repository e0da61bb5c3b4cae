"""Make bench/ and bench/peers/ importable for the benchmark suite's tests."""

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
for folder in (BENCH_DIR, BENCH_DIR / "peers"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
