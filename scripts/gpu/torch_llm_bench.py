"""Reference decode throughput for issue 7: HF transformers generate() on a
random Qwen2.5-3B-shaped Qwen2ForCausalLM (SDPA, greedy, bf16) on this GPU.

Prints one JSON object per batch size:
  {"batch", "prompt_len", "new_tokens", "dtype", "layers",
   "decode_tokens_per_s", "generate_1_s", "generate_n_s"}
The decode rate excludes the prompt: batch * (N - 1) / (t(N) - t(1)), with
t(n) the median wall time of generate(max_new_tokens = min_new_tokens = n)
(t(1) is the prefill and first token). A failure prints {"batch", "error"}.

Usage: python torch_llm_bench.py [--batches 1,16] [--prompt-len 128]
                                 [--new-tokens 64] [--layers 36] [--repeats 3]
"""
import argparse
import json
import statistics
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--batches", default="1,16")
ap.add_argument("--prompt-len", type=int, default=128)
ap.add_argument("--new-tokens", type=int, default=64)
ap.add_argument("--layers", type=int, default=36)
ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
ap.add_argument("--repeats", type=int, default=3)
a = ap.parse_args()
dtype = getattr(torch, a.dtype)

# Qwen2.5-3B's config.json shape (random weights: the speed does not depend on them).
cfg = Qwen2Config(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=a.layers,
                  num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                  bos_token_id=None, eos_token_id=None, pad_token_id=0)
with torch.device("cuda"):  # initialise on the GPU: CPU init of 3B weights takes minutes
    try:
        model = Qwen2ForCausalLM._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        model = Qwen2ForCausalLM._from_config(cfg, attn_implementation="sdpa", torch_dtype=dtype)
model = model.to("cuda", dtype).eval()


def generate(ids, n):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, pad_token_id=0, eos_token_id=None)
    torch.cuda.synchronize()
    assert out.shape[1] == ids.shape[1] + n, out.shape
    return time.perf_counter() - t0


g = torch.Generator(device="cuda").manual_seed(1)
for b in [int(x) for x in a.batches.split(",") if x]:
    try:
        ids = torch.randint(0, cfg.vocab_size, (b, a.prompt_len), device="cuda", generator=g)
        generate(ids, 4)  # warm-up (kernels, allocator)
        t1 = statistics.median(generate(ids, 1) for _ in range(a.repeats))
        tn = statistics.median(generate(ids, a.new_tokens) for _ in range(a.repeats))
        rate = b * (a.new_tokens - 1) / (tn - t1)
        print(json.dumps({"batch": b, "prompt_len": a.prompt_len, "new_tokens": a.new_tokens, "dtype": a.dtype,
                          "layers": a.layers, "decode_tokens_per_s": round(rate, 2),
                          "generate_1_s": round(t1, 4), "generate_n_s": round(tn, 4),
                          "torch": torch.__version__, "device": torch.cuda.get_device_name()}), flush=True)
    except Exception as e:  # keep the other batch sizes
        print(json.dumps({"batch": b, "error": f"{type(e).__name__}: {e}"[:500]}), flush=True)
    torch.cuda.empty_cache()
