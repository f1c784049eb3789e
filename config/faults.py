"""Test-only pause points, so the fault tests (tests/faults) can kill a worker at a known moment.

A job calls `fault_pause("name")` where an interruption matters. It does nothing unless FAULT_PAUSE_DIR is
set (never in production) and holds a file `name.armed`. Then it renames that file to `name.reached`, writes
its process id into it (the process the test kills) and waits there until killed. Renaming disarms the
point, so the attempt that runs after the kill goes through.
"""

import os
import time
from pathlib import Path

from django.conf import settings


def fault_pause(point: str) -> None:
    if not settings.FAULT_PAUSE_DIR:
        return
    armed = Path(settings.FAULT_PAUSE_DIR) / f"{point}.armed"
    reached = armed.with_suffix(".reached")
    try:
        armed.rename(reached)
    except FileNotFoundError:
        return
    reached.write_text(str(os.getpid()))
    while True:
        time.sleep(1)
