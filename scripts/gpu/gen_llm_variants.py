"""Golden LLM checkpoints for configurations the shared fixtures lack, made with transformers.

  python3 scripts/gpu/gen_llm_variants.py OUT

Runs on the GPU machine (transformers 5.17 and torch there; CPU is enough, ~20 s). For each
variant it writes OUT/<variant>/ with config.json, model.safetensors and golden.safetensors
(input_ids, logits, hidden_states.N, generated_ids: the layout of the shared qwen2/llama fixtures),
so that `evalrun verify --model OUT/<variant> --golden OUT/<variant>/golden.safetensors` checks
them at once, and the folders can be committed as model/llm/testdata:

  llama_rope_llama3   LLaMA with rope_scaling llama3 (bands kept, blended and scaled at head_dim 16)
  llama_rope_linear   LLaMA with rope_scaling linear, factor 2
  qwen2_floor_headdim Qwen2 with hidden_size 60 and 7 heads: head_dim 60 // 7 = 8, projections 56 wide
"""
import os
import sys

import torch
from safetensors.torch import save_file

OUT = sys.argv[1]
SEED = 4321


def build(name, cls_cfg, cls_model, rope_type="default", **kw):
    torch.manual_seed(SEED)
    cfg = cls_cfg(vocab_size=128, intermediate_size=96, num_hidden_layers=2, max_position_embeddings=256,
                  rms_norm_eps=1e-6, pad_token_id=0, bos_token_id=1, eos_token_id=2, **kw)
    # transformers 5 keeps RoPE settings in rope_parameters (4.x: rope_scaling); a setting
    # it dropped would make a golden of the default RoPE under a scaled name.
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    assert rope.get("rope_type", rope.get("type", "default")) == rope_type, (name, rope)
    m = cls_model(cfg).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    d = os.path.join(OUT, name)
    m.save_pretrained(d, safe_serialization=True)
    ids = torch.randint(3, 128, (2, 40), generator=g)  # 40 positions: past the llama3 variant's 16/64 bands
    with torch.no_grad():
        o = m(input_ids=ids, output_hidden_states=True)
        gen = m.generate(ids[:1], max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=0)
    gold = {"input_ids": ids, "logits": o.logits, "generated_ids": gen}
    for i, h in enumerate(o.hidden_states):
        gold[f"hidden_states.{i}"] = h
    save_file({k: v.detach().contiguous().cpu() for k, v in gold.items()}, os.path.join(d, "golden.safetensors"))
    print("wrote", d, flush=True)


from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

llama = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
build("llama_rope_llama3", LlamaConfig, LlamaForCausalLM, rope_type="llama3",
      rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                       "high_freq_factor": 4.0, "original_max_position_embeddings": 64}, **llama)
build("llama_rope_linear", LlamaConfig, LlamaForCausalLM, rope_type="linear",
      rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}, **llama)
build("qwen2_floor_headdim", Qwen2Config, Qwen2ForCausalLM, hidden_size=60, num_attention_heads=7,
      num_key_value_heads=7, rope_theta=1000000.0, tie_word_embeddings=True)
