"""Export: merge, GGUF conversion and quantization, the Modelfile, serve and ask, on a tiny model.

The first use of llama.cpp's converters fetches the llama-cpp-python sdist once with pip (the
package index the test dependencies come from) into $DISTILL_HOME; later runs reuse it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distill.config import ConfigError, ExportConfig, load_params
from distill.examples import Example
from distill.export.ask import ask, exported_gguf
from distill.export.llama_cpp import ExportError, converter_dir, quantize
from distill.export.modelfile import chat_format, parse_modelfile
from distill.export.prompt import load_prompt_spec, prompt_spec
from distill.export.run import export_student
from distill.inference.base import Generation
from distill.layouts import EXPORT_MANIFEST, MODELFILE, STUDENT_CARD
from tests.tiny_gguf import openai_server

QUESTION = Example(
    input="How many employees are there?", output="SELECT COUNT(*) FROM employees", metadata={"db": "hr"}
)


@pytest.fixture(scope="module")
def tiny_base(tiny_checkpoint, tmp_path_factory) -> str:
    """The tiny checkpoint with its output layer scaled up, so its logits spread like a trained
    model's (std ~8 rather than ~0.2) and the greedy test's margin threshold means what it says."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    with torch.no_grad():
        model.lm_head.weight.mul_(50)
    out = tmp_path_factory.mktemp("tiny-base")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_checkpoint).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def tiny_student(tiny_base, tmp_path_factory) -> Path:
    """A LoRA student on the tiny base, with non-zero adapter weights so merging matters."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_base)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, config)
    out = tmp_path_factory.mktemp("student")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_base).save_pretrained(out)
    card = {"base_model": tiny_base, "checkpoint": tiny_base, "method": "lora", "loss": "sft"}
    (out / STUDENT_CARD).write_text(json.dumps(card))
    return out


@pytest.fixture(scope="module")
def hr_prepared(tmp_path_factory) -> Path:
    """A prepared folder whose resources hold the tiny `hr` database."""
    from distill.tasks.text2sql import Text2SQLTask
    from tests.conftest import TINY_DATA, TINY_SCHEMA

    root = tmp_path_factory.mktemp("prepared")
    source = root / "seeds" / "hr"
    source.mkdir(parents=True)
    (source / "schema.sql").write_text(TINY_SCHEMA)
    (source / "data.sql").write_text(TINY_DATA)
    task = Text2SQLTask(db_dir=root / "prepared" / "resources", timeout_s=1.0, max_rows=100)
    task.build_resources(source.parent, root / "prepared" / "resources")
    task.close()
    return root / "prepared"


@pytest.fixture(scope="module")
def hr_task(hr_prepared):
    from distill.tasks.text2sql import Text2SQLTask

    task = Text2SQLTask(db_dir=hr_prepared / "resources", timeout_s=1.0, max_rows=100)
    yield task
    task.close()


@pytest.fixture(scope="module")
def exported(tiny_student, hr_task, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("export") / "export"
    out.mkdir()
    manifest = export_student(
        tiny_student, prompt_spec(hr_task, QUESTION), ExportConfig(quantizations=("q8_0",)), 32, out
    )
    return out, manifest


def test_export_writes_every_format(exported):
    out, manifest = exported
    for rel in (
        "hf/model.safetensors",
        "hf/tokenizer.json",
        "lora/adapter_config.json",
        "lora/adapter_model.safetensors",
        "gguf/student-f16.gguf",
        "gguf/student-q8_0.gguf",
        "gguf/student-lora-f16.gguf",
        MODELFILE,
        "prompt.json",
        EXPORT_MANIFEST,
    ):
        assert (out / rel).is_file(), rel
    assert manifest["gguf_types"] == ["f16", "q8_0"]
    assert manifest["adapter"] is True
    sizes = {name: info["bytes"] for name, info in manifest["files"].items()}
    assert sizes["gguf/student-q8_0.gguf"] < sizes["gguf/student-f16.gguf"]
    assert all(len(info["sha256"]) == 64 for info in manifest["files"].values())


def _greedy_hf(hf_dir: Path, prompts: list[str], n: int) -> list[tuple[list[int], float]]:
    """Greedy tokens per prompt, with the smallest top-1/top-2 logit margin along the way."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    out = []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            gen = model.generate(
                ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0,
                output_scores=True, return_dict_in_generate=True,
            )  # fmt: skip
        margins = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in gen.scores]
        out.append((gen.sequences[0, ids.shape[1] :].tolist(), min(margins)))
    return out


def _greedy_gguf(path: Path, prompts: list[str], n: int, lora: Path | None = None) -> list[list[int]]:
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=512, n_threads=2, verbose=False, **({"lora_path": str(lora)} if lora else {}))
    out = []
    for prompt in prompts:
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        llm.reset()
        got = []
        for token in llm.generate(tokens, temp=0.0, top_k=1):
            got.append(token)
            if len(got) == n:
                break
        out.append(got)
    llm.close()
    return out


def test_merged_hf_and_f16_gguf_agree_on_greedy_outputs(exported, tiny_base):
    from distill.export.llama_cpp import convert_hf

    out, _ = exported
    prompts = [
        "<|im_start|>user\nHow many employees?<|im_end|>\n<|im_start|>assistant\n",
        "SELECT name FROM",
        "<|im_start|>system\nYou write SQL.<|im_end|>\n",
        "The",
    ]
    hf = _greedy_hf(out / "hf", prompts, 8)
    # A random model's top logits can tie within f16 rounding; compare only paths where HF's choice
    # had a margin (a trained model's usually does), and demand that most prompts qualify.
    clear = [i for i, (_, margin) in enumerate(hf) if margin > 0.05]
    assert len(clear) >= 3, [m for _, m in hf]
    expected = [hf[i][0] for i in clear]
    f16 = _greedy_gguf(out / "gguf" / "student-f16.gguf", prompts, 8)
    assert [f16[i] for i in clear] == expected
    # The adapter GGUF on the base GGUF gives the same model as the merged one.
    base_gguf = convert_hf(Path(tiny_base), out.parent / "base-f16.gguf")
    with_lora = _greedy_gguf(base_gguf, prompts, 8, lora=out / "gguf" / "student-lora-f16.gguf")
    assert [with_lora[i] for i in clear] == expected
    assert _greedy_gguf(base_gguf, prompts, 8) != with_lora  # the adapter really changes the model


def _render_go_template(template: str, messages: list[dict]) -> str:
    """Ollama's rendering of the one template shape the exporter writes: a loop over messages with
    an if/else-if branch per role, then a literal suffix."""
    m = re.fullmatch(r"\{\{ range \.Messages \}\}(.*)\{\{ end \}\}\{\{ end \}\}(.*)", template, re.S)
    assert m, template
    branches = dict(re.findall(r'\{\{ (?:else )?if eq \.Role "(\w+)" \}\}(.*?)(?=\{\{ else if|\Z)', m.group(1), re.S))
    return "".join(branches[msg["role"]].replace("{{ .Content }}", msg["content"]) for msg in messages) + m.group(2)


def test_modelfile_round_trips_to_the_training_template(exported, hr_task):
    from transformers import AutoTokenizer

    out, manifest = exported
    modelfile = parse_modelfile((out / MODELFILE).read_text())
    assert (out / modelfile.source).resolve() == (out / "gguf" / "student-q8_0.gguf").resolve()
    tokenizer = AutoTokenizer.from_pretrained(out / "hf")
    assert modelfile.stops == ["<|im_end|>"] == list(chat_format(tokenizer).stops)
    params = dict(modelfile.parameters)
    assert params["temperature"] == "0" and params["num_predict"] == "32"

    # Ollama's conversation: SYSTEM, the MESSAGE turns, then the user's question.
    question = Example(input="Who earns the most?", output="", metadata={"db": "hr"})
    conversation = [
        {"role": "system", "content": modelfile.system},
        *modelfile.messages,
        {"role": "user", "content": question.input},
    ]
    expected = tokenizer.apply_chat_template(
        hr_task.student_messages(question), add_generation_prompt=True, tokenize=False
    )
    assert _render_go_template(modelfile.template, conversation) == expected
    assert "CREATE TABLE employees" in modelfile.system


def test_chat_format_refuses_a_template_it_cannot_express(tiny_base):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    # A template that numbers the turns cannot be written as one wrapper per role.
    tokenizer.chat_template = "{% for m in messages %}[{{ loop.index }}] {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ExportError):
        chat_format(tokenizer)


@pytest.mark.parametrize(
    ("value", "needle"),
    [(["q3_x"], "export.quantizations"), (["q8_0", "q8_0"], "distinct"), ("q8_0", "expected a list")],
)
def test_bad_quantizations_param_is_a_clear_error(tmp_path, value, needle):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"export": {"quantizations": value}}))
    with pytest.raises(ConfigError, match="export.quantizations") as err:
        load_params(path)
    assert needle in str(err.value)


def test_quantize_refuses_unknown_type_and_leaves_nothing(tmp_path):
    with pytest.raises(ExportError, match="unknown quantization"):
        quantize(tmp_path / "in.gguf", tmp_path / "out.gguf", "q3_x")
    assert not list(tmp_path.iterdir())


def test_converter_override_must_be_a_llama_cpp_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_LLAMA_CPP_DIR", str(tmp_path))
    with pytest.raises(ExportError, match="convert_hf_to_gguf.py"):
        converter_dir()


def test_serve_applies_the_prompt_and_answers_the_openai_client(exported):
    from llama_cpp import Llama
    from openai import OpenAI

    out, _ = exported
    spec = load_prompt_spec(out)
    cmd = [sys.executable, "-m", "distill", "serve", "--export-dir", str(out), "--gguf", "q8_0", "--n-ctx", "2048"]
    with openai_server(cmd, timeout_s=60) as base_url:
        client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="distill-student", messages=[{"role": "user", "content": QUESTION.input}], max_tokens=8, temperature=0
        )
        own_system = client.chat.completions.create(
            model="distill-student",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION.input}],
            max_tokens=8,
            temperature=0,
        )
    assert reply.choices[0].message.content is not None
    # The server saw the system prompt and worked examples: count the tokens it must have read.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out / "hf")
    full = tokenizer.apply_chat_template(
        spec.with_prefix([{"role": "user", "content": QUESTION.input}]), add_generation_prompt=True, tokenize=False
    )
    llm = Llama(str(exported_gguf(out, "q8_0")), vocab_only=True, verbose=False)
    assert reply.usage.prompt_tokens == len(llm.tokenize(full.encode(), add_bos=False, special=True))
    assert own_system.usage.prompt_tokens < 60 < reply.usage.prompt_tokens  # a caller's own system prompt wins


class _FixedModel:
    name, batch_size = "fixed", 1

    def __init__(self, text: str):
        self.text = text
        self.seen: list[list[dict]] = []

    def generate(self, conversations):
        self.seen += conversations
        return [Generation(text=self.text, seconds=0.1, tokens=5) for _ in conversations]


def test_ask_extracts_the_sql_and_shows_its_rows(exported, hr_task):
    out, _ = exported
    spec = load_prompt_spec(out)
    model = _FixedModel("Here you go:\n```sql\nSELECT name FROM employees WHERE salary > 78 ORDER BY name;\n```")
    answer = ask(model, hr_task, spec, "Who earns more than 78?")
    assert answer.prediction == "SELECT name FROM employees WHERE salary > 78 ORDER BY name"
    assert "Ada" in answer.shown and "Bob" in answer.shown and "(2 rows)" in answer.shown
    assert model.seen[0][0]["role"] == "system" and model.seen[0][-1]["content"] == "Who earns more than 78?"
    bad = ask(_FixedModel("DELETE FROM employees"), hr_task, spec, "Delete everyone")
    assert bad.shown.startswith("error:")
    assert ask(_FixedModel("SELECT COUNT(*) FROM employees"), hr_task, spec, "How many?").shown.count("4") >= 1


def test_ask_cli_round_trip(exported, hr_prepared, tmp_path):
    out, _ = exported
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"task": {"name": "text2sql"}, "evaluate": {"max_new_tokens": 8}}))
    done = subprocess.run(
        [sys.executable, "-m", "distill", "ask", "How many employees are there?", "--export-dir", str(out),
         "--params", str(params), "--prepared", str(hr_prepared), "--n-ctx", "2048"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "student-q8_0.gguf" in done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "distill", "ask", "q", "--export-dir", str(tmp_path / "nope"), "--params", str(params)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1 and "run `dvc repro export` first" in missing.stderr


def test_the_base_is_exported_like_the_student(tiny_base, tmp_path):
    from distill.export.run import export_base
    from distill.inference.llamacpp import load_llama
    from distill.layouts import BASE_GGUF
    from distill.models import GGUFSource

    manifest = export_base(tiny_base, tmp_path, "tiny")
    gguf = tmp_path / BASE_GGUF
    assert manifest["gguf"] == BASE_GGUF and manifest["bytes"] == gguf.stat().st_size > 0
    assert manifest["model"] == "tiny" and str(tmp_path) not in json.dumps(manifest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base-f16.gguf", "base.json"]  # no HF copy left behind
    from transformers import AutoTokenizer

    llm = load_llama(GGUFSource(path=gguf), n_ctx=256, vocab_only=True)
    assert llm.tokenize(b"hello", add_bos=False) == AutoTokenizer.from_pretrained(tiny_base)("hello")["input_ids"]


def test_grade_exports_grades_every_gguf_and_checks_hf_on_a_few(exported, hr_task):
    from distill.config import EvaluateConfig
    from distill.export.verify import grade_exports

    out, manifest = exported
    examples = [
        QUESTION,
        Example(input="List every employee name.", output="SELECT name FROM employees", metadata={"db": "hr"}, id="q2"),
    ]
    ev = EvaluateConfig(max_new_tokens=16, speed_questions=1, hf_check_questions=1, batch_size=2)
    results, records = grade_exports(out, hr_task, examples, ev, ExportConfig(quantizations=("q8_0",)))
    # The Modelfile's GGUF is the student; f16 is graded too, by its file name.
    assert (
        manifest["modelfile_gguf"] == "student-q8_0.gguf"
        and results["models"]["student"]["gguf"] == "student-q8_0.gguf"
    )
    assert set(results["files"]) == {"student-f16.gguf", "student-q8_0.gguf"}
    assert results["files"]["student-f16.gguf"]["delta_vs_f16"] == 0.0
    assert results["files"]["student-q8_0.gguf"]["shipped"] and not results["files"]["student-f16.gguf"]["shipped"]
    assert {r["model"] for r in records} == {"student", "student-f16.gguf"} and len(records) == 4
    assert {r["prompt"] for r in records} == {"zero_shot"}
    assert results["speed"]["model"] == "student-q8_0.gguf" and results["speed"]["seconds_per_answer"] > 0
    check = results["hf_check"]
    assert check["n"] == 1 and 0.0 <= check["identical_answers"] <= 1.0
