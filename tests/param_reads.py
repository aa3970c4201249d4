"""Params that record which keys are read, for tests/test_dvc_deps.py.

`recording(params)` gives a copy of a `Params` that notes the dotted key of every leaf asked for.
`install(folder)` makes `distill.config.load_params` hand out such copies in this process and
write the keys read, at exit, to `<folder>/<script>.json`; tests/params_hook/sitecustomize.py
calls it in every Python process of a DVC run started with DISTILL_RECORD_PARAMS set.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import sys
from pathlib import Path

RECORD_READS_ENV = "DISTILL_RECORD_PARAMS"
HOOK_DIR = Path(__file__).with_name("params_hook")
"""Put it first on PYTHONPATH, with RECORD_READS_ENV set, and every stage records its reads."""

_CLASSES: dict[type, type] = {}


def recording(params):
    """(a copy of `params` that adds the dotted key of every leaf read, such as `train.kd.top_k`,
    to the set; that set). The copy is a real `Params` subclass: isinstance, dataclasses.asdict
    and replace work, and the last two read, so record, every field they copy. Equality with a
    plain `Params` is False (dataclass `==` compares classes)."""
    reads: set[str] = set()
    return _copy(params, "", reads), reads


def _copy(obj, prefix: str, reads: set[str]):
    cls = type(obj)
    if cls not in _CLASSES:
        names = frozenset(f.name for f in dataclasses.fields(cls))

        def __getattribute__(self, name):
            value = object.__getattribute__(self, name)
            if name in names and not dataclasses.is_dataclass(value):
                state = object.__getattribute__(self, "__dict__").get("_recording")
                if state is not None:  # absent on a copy made by dataclasses.replace
                    state[1].add(f"{state[0]}{name}")
            return value

        _CLASSES[cls] = type(f"Recording{cls.__name__}", (cls,), {"__getattribute__": __getattribute__})
    copy = object.__new__(_CLASSES[cls])
    for f in dataclasses.fields(cls):
        value = object.__getattribute__(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = _copy(value, f"{prefix}{f.name}.", reads)
        object.__setattr__(copy, f.name, value)
    object.__setattr__(copy, "_recording", (prefix, reads))
    return copy


def install(folder: str) -> None:
    """From now on in this process, `load_params` hands out recording params; at exit, the keys
    read (added to any recorded before under the same script name) go to `<folder>/<script>.json`."""
    import distill.config

    load_params = distill.config.load_params
    reads: list[set[str]] = []  # one set per load_params call

    def recording_load_params(*args, **kwargs):
        params, read = recording(load_params(*args, **kwargs))
        reads.append(read)
        return params

    def write() -> None:
        if not reads:
            return  # a process that never loaded params (dvc itself)
        # Named at exit: under `python -m`, argv[0] is "-m" until runpy replaces it with the script.
        out = Path(folder) / f"{Path(sys.argv[0]).stem}.json"
        before = set(json.loads(out.read_text())) if out.is_file() else set()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(sorted(before.union(*reads))))

    distill.config.load_params = recording_load_params
    atexit.register(write)
