"""docs/openapi.yaml is the OpenAPI schema the code generates (`make openapi`, scripts/openapi.sh), so an
endpoint changed without the file regenerated fails the suite."""

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.yaml"


def test_the_committed_openapi_file_is_what_the_code_generates():
    generated = subprocess.run(
        ["scripts/openapi.sh", "-"],
        cwd=ROOT,
        env={**os.environ, "PY": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, f"scripts/openapi.sh failed:\n{generated.stderr}"
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    if generated.stdout != committed:
        diff = difflib.unified_diff(
            committed.splitlines(),
            generated.stdout.splitlines(),
            "docs/openapi.yaml",
            "generated",
            lineterm="",
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(
            "docs/openapi.yaml is not the schema the code generates: run `make openapi` and commit the "
            f"file.\n{shown}"
        )
