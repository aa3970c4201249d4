import pytest

from distill.config import ConfigError, load_params

from .conftest import REPO


def test_repository_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.task.name == "text2sql"
    assert params.prepare.teacher_val_fraction == 0.2


@pytest.mark.parametrize(
    "text, message",
    [
        ("evaluate:\n  batch_size: 0\n", "evaluate.batch_size: expected an integer >= 1, got 0"),
        ("evaluate:\n  limt: 3\n", "unknown key 'evaluate.limt'"),
        ("prepare:\n  teacher_val_fraction: 1.5\n", "prepare.teacher_val_fraction: expected a number strictly"),
        ("teacher:\n  model: 3\n", "teacher.model: expected str, got 3"),
        ("teachr: {}\n", "unknown key 'teachr'"),
        ("export:\n  speed_questions: 4\n", "export.speed_questions moved to evaluate.speed_questions"),
        ("train:\n  packing: pack\n", "train.packing: expected one of shared_prefix, none, got 'pack'"),
        (
            "evaluate:\n  repair_turns: -1\n",
            "evaluate.repair_turns: expected an integer >= 0; 0 turns repair off, got -1",
        ),
        ("task: [1]\n", "task: expected a mapping"),
        ("task: {name: 'a\n", "invalid YAML"),
    ],
)
def test_bad_params_name_the_key(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        load_params(path)
    assert str(path) in str(info.value)


def test_defaults_fill_missing_sections(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("evaluate:\n  limit: 5\n")
    params = load_params(path)
    assert params.evaluate.limit == 5 and params.evaluate.batch_size == 8
    assert params.teacher.model == "qwen2.5-coder-1.5b-instruct"


def test_readme_params_table_matches_params_yaml():
    """The README's params table states the defaults; a changed default must change it too."""
    import re

    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    stale = []
    for line in (REPO / "README.md").read_text().splitlines():
        row = re.match(r"\| `([a-z_]+(?:\.[a-z_]+)+)` \| `([^`]*)` \|", line)
        if row is None:
            continue
        key, documented = row.groups()
        value = params
        for part in key.split("."):
            value = value.get(part, KeyError) if isinstance(value, dict) else KeyError
        if value is KeyError:  # optional keys (teacher.replay_of) are documented but not set
            continue
        if yaml.safe_load(documented) != value:
            stale.append(f"{key}: README `{documented}`, params.yaml {value!r}")
    assert not stale, stale
