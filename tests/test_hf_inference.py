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
    seen_lengths = []
    hook = chat.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen_lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    batched = [g.text for g in chat.generate(conversations)]
    hook.remove()
    rows = [chat._tokens(m) for m in conversations]
    prefix = len(chat._prefix)
    assert prefix > 10
    # The first forward pass of the batch sees only the questions, not the shared prefix again.
    assert seen_lengths[0] == max(len(r) for r in rows) - prefix

    plain = []
    for messages in conversations:
        ids = torch.tensor([chat._tokens(messages)])
        with torch.inference_mode():
            out = chat.model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, pad_token_id=chat.pad_id)
        plain.append(chat.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    assert batched == plain
