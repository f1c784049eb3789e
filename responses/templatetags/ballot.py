"""{% ballot_script %}: the ballot bundle's <script> tag, pinned by its Subresource Integrity hash.

The bundle (static/js/vendor/ballot-<version>-<hash>.min.js) and its manifest are committed build
output of `make js` (frontend/build.mjs). The browser refuses to run the file unless its SHA-384 matches
the manifest's, so what officers run is exactly the published, reproducible build.
"""

import json
from functools import cache

from django import template
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.utils.html import format_html

MANIFEST = "js/vendor/ballot.manifest.json"

register = template.Library()


@cache
def ballot_bundle() -> dict[str, str]:
    """The manifest: {"file": path under static/, "integrity": "sha384-...", ...}; read once per process."""
    path = finders.find(MANIFEST)
    if path is None:
        raise FileNotFoundError(f"static/{MANIFEST} is missing: run `make js`")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@register.simple_tag
def ballot_script() -> str:
    bundle = ballot_bundle()
    return format_html(
        '<script src="{}" integrity="{}" crossorigin="anonymous" defer></script>',
        static(bundle["file"]),
        bundle["integrity"],
    )
