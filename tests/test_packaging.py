"""The container image and the package list must carry every app of the project."""

import re
import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def project_packages() -> set[str]:
    """Top-level packages of ours that settings load: local INSTALLED_APPS and the config package."""
    names = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    return {name for name in names if (ROOT / name / "__init__.py").exists()} | {"config"}


def test_the_dockerfile_copies_every_app():
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE))
    assert project_packages() <= copied, project_packages() - copied


def test_the_package_includes_every_app():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    include = {pattern.rstrip("*") for pattern in patterns}
    assert project_packages() <= include, project_packages() - include
