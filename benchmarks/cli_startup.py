"""How fast the command line starts: ``scorelab --help`` and every ``scorelab CMD --help``,
as a ratio to ``python -c "import torch"`` timed in the same run (so machine load cancels).

    python benchmarks/cli_startup.py [--repeats 5]

Prints one row per command: median seconds, and the ratio to importing torch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = ["", "demo", "bench", "report", "schedule", "loss-curve", "train", "experiment", "list"]


def _median_seconds(argv: list[str], repeats: int) -> float:
    subprocess.run(argv, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("scorelab") or sys.exit("scorelab is not installed (pip install -e .)")
    torch_s = _median_seconds([sys.executable, "-c", "import torch"], args.repeats)
    print(f"load {os.getloadavg()[0]:.2f}; python -c 'import torch': {torch_s:.3f} s")
    print(f"{'command':<28} {'seconds':>8} {'÷ import torch':>15}")
    for cmd in COMMANDS:
        argv = [exe, *([cmd] if cmd else []), "--help"]
        s = _median_seconds(argv, args.repeats)
        label = " ".join(["scorelab", *([cmd] if cmd else []), "--help"])
        print(f"{label:<28} {s:>8.3f} {s / torch_s:>15.2f}")


if __name__ == "__main__":
    main()
