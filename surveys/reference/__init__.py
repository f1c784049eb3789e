"""The reference questionnaires (NetClean 2016 and 2017) and coding frames shipped with the product."""

from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent
