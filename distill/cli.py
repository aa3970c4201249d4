"""`python -m distill …`: tools that work outside the DVC pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path

from distill.errors import ConfigError, DataError, DistillError
from distill.evaluation.harness import Repair, grade
from distill.evaluation.metrics import summarize
from distill.examples import Example, read_examples
from distill.io import read_jsonl_numbered, write_jsonl
from distill.layouts import EXPORT, PREPARED
from distill.tasks.text2sql import Text2SQLTask


def _align_predictions(golds: list[Example], pred_path: Path) -> list[str]:
    """Prediction texts in gold order: joined on `id`, else on `input`, else by line order."""
    preds = read_jsonl_numbered(pred_path)
    for lineno, obj in preds:
        if not isinstance(obj.get("output"), str):
            raise DataError(f"{pred_path}:{lineno}: field 'output' (the predicted SQL) must be a string")
    # Join on `id` only when the gold file sets ids itself (otherwise they are line-based).
    keys = ("id", "input") if all(g.id_given for g in golds) else ("input",)
    for key in keys:
        if preds and all(key in obj for _, obj in preds):
            table = {}
            for lineno, obj in preds:
                k = str(obj[key])
                if k in table:
                    raise DataError(f"{pred_path}:{lineno}: duplicate {key} {k!r}")
                table[k] = obj["output"]
            gold_keys = [g.id if key == "id" else g.input for g in golds]
            missing = [k for k in gold_keys if k not in table]
            if missing:
                raise DataError(f"{pred_path}: no prediction for {key} {missing[0]!r} ({len(missing)} missing)")
            return [table[k] for k in gold_keys]
    if len(preds) != len(golds):
        raise DataError(
            f"{pred_path}: {len(preds)} predictions for {len(golds)} gold examples; "
            "give each line an `id` or `input` to join on, or keep the same order and count"
        )
    return [obj["output"] for _, obj in preds]


def eval_sql(args: argparse.Namespace) -> int:
    golds = read_examples(args.gold)
    texts = _align_predictions(golds, Path(args.pred))
    with Text2SQLTask(
        db_dir=args.db_dir,
        db_file=args.db,
        timeout_s=args.timeout,
        max_rows=args.max_rows,
        max_result_mb=args.max_result_mb,
    ) as task:
        for gold in golds:  # a broken gold query must not silently count as a wrong prediction
            task.check_example(gold, gold.source)
        records = grade(task, golds, texts, model_name=Path(args.pred).stem)
    if args.records:
        write_jsonl(args.records, records)
    print(json.dumps(summarize(records), indent=2))
    return 0


def serve(args: argparse.Namespace) -> int:
    from distill.export.ask import exported_gguf
    from distill.export.prompt import load_prompt_spec
    from distill.export.serve import serve as run_server

    export_dir = Path(args.export_dir)
    run_server(exported_gguf(export_dir, args.gguf), load_prompt_spec(export_dir), args.host, args.port, args.n_ctx)
    return 0


def ask(args: argparse.Namespace) -> int:
    from distill.config import load_params
    from distill.export.ask import ask as ask_model
    from distill.export.ask import exported_gguf
    from distill.export.prompt import load_prompt_spec
    from distill.inference.llamacpp import LlamaCppChat
    from distill.layouts import RESOURCES
    from distill.models import GGUFSource
    from distill.tasks import make_task

    export_dir = Path(args.export_dir)
    spec = load_prompt_spec(export_dir)
    params = load_params(args.params)
    if params.task.name != spec.task:
        raise ConfigError(
            f"{args.params}: task.name is {params.task.name!r} but {export_dir} was exported for {spec.task!r}"
        )
    gguf = exported_gguf(export_dir, args.gguf)
    ev = params.evaluate
    model = LlamaCppChat(
        "student", GGUFSource(path=gguf), n_ctx=args.n_ctx, threads=ev.threads, max_tokens=ev.max_new_tokens, slots=1
    )
    with closing(model), make_task(params.task, Path(args.prepared) / RESOURCES) as task:
        answer = ask_model(model, task, spec, args.question, Repair.of(ev))
    print(answer.prediction or answer.text)
    if answer.shown:
        print()
        print(answer.shown)
    repaired = f", {answer.repairs} repair turn(s)" if answer.repairs else ""
    print(f"\n({gguf.name}, {answer.seconds:.2f}s{repaired})", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m distill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("eval-sql", help="grade predicted SQL by executing it against gold SQL")
    p.add_argument("--gold", required=True, help='JSONL of {"input","output","metadata":{"db":NAME}}')
    p.add_argument("--pred", required=True, help='JSONL with "output" per line (and optionally "id"/"input")')
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="one SQLite file for every example")
    where.add_argument("--db-dir", help="folder with NAME.sqlite or NAME/NAME.sqlite per metadata.db")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per query (default 5)")
    p.add_argument("--max-rows", type=int, default=10_000, help="row cap per result (default 10000)")
    p.add_argument("--max-result-mb", type=float, default=64.0, help="cap on a result's total size in MB (default 64)")
    p.add_argument("--records", help="also write per-example graded records to this JSONL")
    p.set_defaults(func=eval_sql)

    def exported(p: argparse.ArgumentParser) -> None:
        p.add_argument("--export-dir", default=str(EXPORT), help=f"the export stage's output (default {EXPORT})")
        p.add_argument("--gguf", help="which GGUF: a type (q4_k_m, q8_0, f16) or file name; default: the Modelfile's")
        p.add_argument("--n-ctx", type=int, default=4096, help="context window (default 4096)")

    p = sub.add_parser("serve", help="OpenAI-compatible server on the exported GGUF, task prompt applied")
    exported(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=serve)

    p = sub.add_parser("ask", help="answer one question with the exported model (text2sql: and run the SQL)")
    p.add_argument("question")
    exported(p)
    p.add_argument("--params", default="params.yaml", help="params file for the task settings (default params.yaml)")
    p.add_argument("--prepared", default=str(PREPARED), help=f"the prepare stage's output (default {PREPARED})")
    p.set_defaults(func=ask)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DistillError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
