"""Stage export_base: the base (the student's starting weights) as an f16 GGUF, exported the way
the trained student is, so the reference stage grades it on the same runtime.

Outputs models/base/: base-f16.gguf and base.json (its source, size and sha256).
"""

from __future__ import annotations

from distill.config import load_params
from distill.export.run import export_base
from distill.io import atomic_dir
from distill.layouts import BASE
from distill.models import resolve_hf, resolve_param
from stages import run_stage


def main() -> None:
    params = load_params()
    checkpoint = resolve_param("student.model", resolve_hf, params.student.model)
    with atomic_dir(BASE) as staging:
        manifest = export_base(checkpoint, staging, params.student.model)
    print(f"export_base: {BASE / manifest['gguf']} ({manifest['bytes'] / 2**20:.1f} MiB) from {checkpoint}")


if __name__ == "__main__":
    run_stage(main, "export_base")
