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
