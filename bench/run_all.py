"""`make bench`: run every benchmark script and print one JSON report (each script prints JSON)."""

import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ["submissions.py", "results.py", "exports.py", "coding.py"]


def main() -> None:
    report: dict[str, object] = {
        "machine": {"cores": __import__("os").cpu_count()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in SCRIPTS:
        script = BENCH / name
        if not script.exists():
            continue
        started = time.monotonic()
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        entry: dict[str, object] = {"seconds": round(time.monotonic() - started, 1)}
        try:
            entry["result"] = json.loads(run.stdout)
        except json.JSONDecodeError:
            entry["error"] = (run.stderr or run.stdout)[-2000:]
        report[name.removesuffix(".py")] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
