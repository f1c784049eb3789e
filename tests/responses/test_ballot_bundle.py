"""The committed ballot bundle (static/js/vendor, built by `make js`) is what its manifest says it is.

The browser runs the bundle only if its SHA-384 matches the integrity attribute the page gives, and that
attribute comes from the manifest; so the manifest must hash the committed file, name the pinned library
version, and (where Node and the build tools are installed) come out of a fresh build byte for byte.
"""

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.template import Context, Template
from django.templatetags.static import static

from responses.templatetags.ballot import ballot_bundle

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "js" / "vendor"
MANIFEST = json.loads((VENDOR / "ballot.manifest.json").read_text(encoding="utf-8"))


def test_the_manifest_integrity_is_the_sha384_of_the_committed_bundle():
    bundle = (ROOT / "static" / MANIFEST["file"]).read_bytes()
    digest = hashlib.sha384(bundle).digest()
    assert MANIFEST["integrity"] == "sha384-" + base64.b64encode(digest).decode()
    # The name carries the library version and the start of the same hash, so a new build is a new URL.
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@cloudflare/blindrsa-ts"]
    assert MANIFEST["packages"]["@cloudflare/blindrsa-ts"] == pinned
    assert MANIFEST["file"] == f"js/vendor/ballot-{pinned}-{digest.hex()[:12]}.min.js"
    assert sorted(p.name for p in VENDOR.glob("ballot-*.min.js")) == [Path(MANIFEST["file"]).name]


def test_the_page_loads_the_bundle_with_its_integrity_hash():
    ballot_bundle.cache_clear()
    html = Template("{% load ballot %}{% ballot_script %}").render(Context())
    assert html == (
        f'<script src="{static(MANIFEST["file"])}" integrity="{MANIFEST["integrity"]}" '
        'crossorigin="anonymous" defer></script>'
    )
    assert html.startswith('<script src="/static/js/vendor/ballot-')


def test_a_fresh_build_reproduces_the_committed_bundle_byte_for_byte():
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "esbuild").exists():
        pytest.skip("needs Node and `npm ci` (make install runs it) to rebuild the bundle")
    result = subprocess.run(
        [node, "frontend/build.mjs", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert re.search(re.escape(MANIFEST["integrity"]), result.stdout)
