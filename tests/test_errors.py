"""One error base: every error a user can cause is a DistillError, and both entry points (the
stages' `run_stage` and `python -m distill`) turn any of them into one line and exit status 1."""

from __future__ import annotations

import pytest

from distill import cli, errors
from stages import run_stage

USER_ERRORS = [
    errors.ConfigError("params.yaml: train.lr: expected a number"),
    errors.DataError("data/seeds/x.jsonl:3: field 'input' must be a non-empty string"),
    errors.ModelError("params.yaml: student.model: unknown model"),
    errors.TeacherError("teacher: 3 of 3 calls failed"),
    errors.BudgetExceeded("teacher.budget_usd 0.50 would be exceeded"),
    errors.ExportError("convert: llama.cpp's converter failed"),
    errors.SoftLabelsUnavailable("needs a local teacher", "; set train.loss: auto"),
]


@pytest.mark.parametrize("error", USER_ERRORS, ids=lambda e: type(e).__name__)
def test_a_stage_prints_one_line_and_exits_1(error, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def main():
        raise error

    with pytest.raises(SystemExit) as exit_:
        run_stage(main, "demo")
    assert exit_.value.code == 1
    assert capsys.readouterr().err == f"error: {error}\n"
    assert not (tmp_path / "metrics").exists(), "a failed stage records no wall time"


@pytest.mark.parametrize("error", USER_ERRORS, ids=lambda e: type(e).__name__)
def test_the_cli_prints_one_line_and_returns_1(error, monkeypatch, capsys):
    def fail(args):
        raise error

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=fail)
    args = parser.parse_args(["ask", "How many?"])
    args.func = fail
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    assert cli.main(["ask", "How many?"]) == 1
    assert capsys.readouterr().err == f"error: {error}\n"


def test_a_bug_is_not_swallowed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyError):
        run_stage(lambda: {}["missing"], "demo")


def test_malformed_artifacts_are_named_not_tracebacks(tmp_path):
    from distill.card import load_card
    from distill.export.ask import exported_gguf
    from distill.export.prompt import load_prompt_spec

    (tmp_path / "distill_student.json").write_text("{}")
    with pytest.raises(errors.DataError, match=r"distill_student.json: not a student card: 'base_model'"):
        load_card(tmp_path)
    (tmp_path / "export.json").write_text("[]")
    with pytest.raises(errors.ExportError, match=r"export.json: not an export manifest"):
        exported_gguf(tmp_path)
    (tmp_path / "prompt.json").write_text('{"task": "text2sql"}')
    with pytest.raises(errors.ExportError, match=r"prompt.json: not a prompt spec"):
        load_prompt_spec(tmp_path)


def test_an_unknown_task_is_named_before_any_seed_is_read(tmp_path):
    from distill.config import PrepareConfig, TaskConfig
    from distill.preparation import prepare_seeds

    with pytest.raises(errors.ConfigError, match=r"task.name: unknown task 'foo'; known: text2sql, code"):
        prepare_seeds(TaskConfig(name="foo"), PrepareConfig(), tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_invalid_yaml_is_one_line_with_its_line_number(tmp_path):
    from distill.config import load_params

    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\ntask:\n  name: [x\n")
    with pytest.raises(errors.ConfigError) as e:
        load_params(tmp_path / "params.yaml")
    assert str(e.value).startswith(f"{tmp_path / 'params.yaml'}:5: invalid YAML") and "\n" not in str(e.value)
