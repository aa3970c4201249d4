"""The shared-prefix batching path gives exactly what plain one-at-a-time generation gives."""

import torch

from distill.inference.hf import HFChat, common_prefix_length


def test_common_prefix_length_leaves_a_tail():
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix_length([[7, 8]]) == 1
    assert common_prefix_length([[1], [2]]) == 0


def test_batched_prefix_cache_matches_plain_generation(tiny_checkpoint):
    system = {"role": "system", "content": "You answer with SQL over this schema: CREATE TABLE t (a INTEGER, b TEXT);"}
    questions = ["How many rows?", "List every b value where a is above ten, please.", "Max a?"]
    conversations = [[system, {"role": "user", "content": q}] for q in questions]
    chat = HFChat("tiny", tiny_checkpoint, batch_size=3, max_new_tokens=12, threads=1)
    chat.generate(conversations)  # warm: encodes the shared prefix once
    runtime = chat.runtime
    seen_lengths = []
    hook = runtime.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen_lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    batched = [g.text for g in chat.generate(conversations)]
    hook.remove()
    rows = [runtime.chat_ids(m) for m in conversations]
    prefix = len(runtime._prefix)
    assert prefix > 10
    # The first forward pass of the batch sees only the questions, not the shared prefix again.
    assert seen_lengths[0] == max(len(r) for r in rows) - prefix

    plain = []
    for messages in conversations:
        ids = torch.tensor([runtime.chat_ids(messages)])
        with torch.inference_mode():
            out = runtime.model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, pad_token_id=runtime.pad_id)
        plain.append(runtime.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    assert batched == plain


def test_the_hf_teacher_and_the_hf_chat_model_decode_alike(tiny_checkpoint, tmp_path):
    """One transformers runtime: the `hf` teacher provider and HFChat give the same greedy answer
    and the same seeded sample (top_p 0.95 on both, as llama.cpp samples)."""
    from distill.config import TeacherConfig
    from distill.teachers import make_client
    from distill.teachers.base import TeacherRequest

    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a colour."}]
    chat = HFChat("tiny", tiny_checkpoint, batch_size=1, max_new_tokens=8, threads=1)
    greedy, sampled = chat.generate([messages])[0].text, chat.generate([messages], 0.8, sample_index=3)[0].text
    chat.close()
    client = make_client(TeacherConfig(provider="hf", model=tiny_checkpoint, threads=1), tmp_path, progress=False)
    teacher = client.run(
        [TeacherRequest(tuple(messages), 0.0, 8), TeacherRequest(tuple(messages), 0.8, 8, sample_index=3)]
    )
    client.close()
    assert [r.response.text for r in teacher] == [greedy, sampled]
