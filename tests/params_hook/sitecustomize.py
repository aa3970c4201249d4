"""Loaded by every Python process started with this folder on PYTHONPATH: with
DISTILL_RECORD_PARAMS set, the stages' params record the keys they read (tests/param_reads.py)."""

import os

if os.environ.get("DISTILL_RECORD_PARAMS"):
    from tests.param_reads import install

    install(os.environ["DISTILL_RECORD_PARAMS"])
