"""Record reference outputs of the official LLaDA and Dream code on tiny checkpoints.

Runs in a SEPARATE environment with the transformers version the official code needs (not
the project's own install, whose transformers the official code cannot load under):

    python3 -m venv ../refenv   # anywhere outside the project's own venv
    ../refenv/bin/pip install -c constraints.txt torch==2.13.0 'transformers==4.57.6' \
        tokenizers safetensors
    ../refenv/bin/python scripts/make_dllm_references.py \
        --reference ../shared/reference/dllm --out tests/fixtures/dllm

``--reference`` holds the official files (LLaDA: modeling_llada.py, configuration_llada.py,
generate.py; Dream: modeling_dream.py, configuration_dream.py, generation_utils.py,
tokenization_dream.py, vocab.json, merges.txt and tokenizer files). They are copied at run
time into a temporary directory and loaded from there; nothing of them enters the project.
One edit is made to the copy of modeling_llada.py: the reference copy loads a classifier
(``seqmodel.pt``) onto CUDA at import time, a leftover of the repository it was vendored
from; those lines are dropped so the module imports on a CPU. Its ``mask_head`` (another
leftover: a Linear beside the output head) does not touch the logits and stays.

What it writes (small; the weights are NOT written, tests rebuild them from
tests/dllm_tiny.py, the same seeded function this script loads into the official models):

- ``llada.safetensors`` / ``dream.safetensors``: for input rows of several lengths (some
  positions masked), the official forward's logits at a fixed set of vocabulary columns, the
  log-sum-exp and the top-8 ids and values over the whole vocabulary, per position; and the
  official samplers' greedy, one-token-per-step trajectories (every intermediate canvas);
- ``tokenizer.json``: sample texts and the ids the slow ``DreamTokenizer`` gives them (the
  project's fast tokenizer built from vocab.json + merges.txt is checked against them here
  and, when the reference folder is present, in the tests);
- ``manifest.json``: versions, seeds, cases, and how each was produced.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import dllm_tiny  # noqa: E402  (tests/dllm_tiny.py: configs and seeded weights)

LENGTHS = [11, 7, 16]          # forward rows
GEN = 8                        # tokens generated in the greedy cases
COLUMNS = 192                  # random vocabulary columns recorded per position
LLADA_FILES = ["modeling_llada.py", "configuration_llada.py"]
DREAM_FILES = ["modeling_dream.py", "configuration_dream.py", "generation_utils.py"]
SAMPLE_TEXTS = [
    "def add(a, b):\n    return a + b\n",
    "    for (int i = 0; i < n; ++i) {\r\n        total += xs[i];\r\n    }\r\n",
    "Héllo wörld — naïve café, 日本語のテキスト, emoji 🎉🚀 and tabs\tand   spaces   \n\n\n",
    "x = [1, 2, 3]  # it's, they're, we'll, I'd, you've, I'm\nprint(f'{x!r:>10}')\n",
    "<div class=\"a\">&amp; <b>bold</b></div>\n<!-- comment -->\n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;\n",
    "   leading spaces\n\ttab\n\n  \n trailing   ",
    "numbers 1234567890 3.14159 -2e10 0xFF\n",
    "ÅΩ≈ç√∫˜µ≤≥÷ ﬁ ﬂ é (e + combining acute) Ａ full width\n",
    "",
]
SPECIAL_TEXTS = ["a<|endoftext|>b", "<|mask|> and <|im_start|>user\nhi<|im_end|>"]


def load_module(name: str, file: Path):
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def strip_llada_leftovers(source: str) -> str:
    start = source.index("class SequenceClassifier(nn.Module):")
    end = source.index("seqmodel.load_state_dict(")
    end = source.index("\n", end) + 1
    return source[:start] + source[end:]


def official_model(family: str, reference: Path, work: Path, weights: dict | None = None):
    from transformers import AutoConfig
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    folder = work / family
    folder.mkdir(parents=True)
    files = LLADA_FILES if family == "llada" else DREAM_FILES
    for name in files:
        text = (reference / family / name).read_text()
        if name == "modeling_llada.py":
            text = strip_llada_leftovers(text)
        (folder / name).write_text(text)
    real = json.loads((reference / family / "config.json").read_text())
    config = dict(dllm_tiny.CONFIGS[family])
    shrunk = {"d_model", "mlp_hidden_size", "n_heads", "n_kv_heads", "n_layers", "init_device",
              "hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers",
              "num_key_value_heads", "max_window_layers"}
    ignored = {"auto_map", "transformers_version", "_name_or_path"}
    for key in set(real) | set(config):
        if key in ignored or key in shrunk:
            continue
        assert real.get(key) == config.get(key), f"{family}: tiny config differs at {key}: {real.get(key)} vs {config.get(key)}"
    config["auto_map"] = real["auto_map"]
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    cfg = AutoConfig.from_pretrained(folder, trust_remote_code=True, local_files_only=True)
    if family == "llada":
        cls = get_class_from_dynamic_module("modeling_llada.LLaDAModelLM", str(folder))
        model = cls(cfg, init_params=False)
    else:
        cfg._attn_implementation = "sdpa"
        cls = get_class_from_dynamic_module("modeling_dream.DreamModel", str(folder))
        model = cls(cfg)
    weights = {k: v.float() for k, v in (weights or dllm_tiny.make_weights(family)).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    allowed = {"model.transformer.mask_head.weight", "model.transformer.mask_head.bias"}
    assert not unexpected, unexpected
    assert set(missing) <= allowed, missing
    if family == "llada":
        torch.nn.init.zeros_(model.model.transformer.mask_head.weight)
        torch.nn.init.zeros_(model.model.transformer.mask_head.bias)
    return model.float().eval()


def record_forward(family: str, model, mask_id: int, out: dict, manifest: dict) -> None:
    rows = dllm_tiny.input_rows(dllm_tiny.SEED + 1, LENGTHS, mask_id)
    gen = torch.Generator().manual_seed(dllm_tiny.SEED + 2)
    vocab = model.get_output_embeddings().weight.shape[0]
    cols = torch.randperm(vocab, generator=gen)[:COLUMNS]
    specials = [i for i in (126080, 126081, 126336, 126348, 151643, 151645, 151665, 151666, 151667) if i < vocab]
    cols = torch.unique(torch.cat([cols, torch.tensor(specials)]))
    out["columns"] = cols
    for r, row in enumerate(rows):
        ids = torch.tensor([row])
        with torch.no_grad():
            logits = model(ids).logits.float()[0]          # official forward, one unpadded row
        out[f"forward.{r}.ids"] = ids[0]
        out[f"forward.{r}.logits"] = logits[:, cols].contiguous()
        out[f"forward.{r}.lse"] = torch.logsumexp(logits, dim=-1)
        top = torch.topk(logits, 8, dim=-1)
        out[f"forward.{r}.top_ids"] = top.indices
        out[f"forward.{r}.top_values"] = top.values
    manifest["forward"] = {"rows": len(rows), "lengths": LENGTHS, "columns": int(cols.numel()),
                           "what": "official model(ids) logits, one unpadded row at a time, float32"}


class Recorder:
    """Wraps the official model's forward to record every canvas it is called on."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, []
        self.inner = model.forward

        def forward(*args, **kwargs):
            ids = args[0] if args else kwargs.get("input_ids")
            self.calls.append(ids.detach().clone())
            return self.inner(*args, **kwargs)

        model.forward = forward

    def release(self) -> None:
        self.model.forward = self.inner


def record_llada_greedy(model, reference: Path, out: dict, manifest: dict) -> None:
    generate = load_module("llada_generate", reference / "llada" / "generate.py").generate
    prompts = dllm_tiny.input_rows(dllm_tiny.SEED + 3, [6, 9], 126336, masked=0.0)
    cases = {}
    for block in (GEN, GEN // 2):
        for p, prompt in enumerate(prompts):
            name = f"greedy.block{block}.{p}"
            rec = Recorder(model)
            x = generate(model, torch.tensor([prompt]), steps=GEN, gen_length=GEN, block_length=block,
                         temperature=0.0, cfg_scale=0.0, remasking="low_confidence", mask_id=126336)
            rec.release()
            history = torch.stack([c[0] for c in rec.calls[1:]] + [x[0]])  # canvas after each step
            before = torch.cat([rec.calls[0][0:1], history[:-1]])
            new = ((before == 126336) & (history != 126336)).sum(-1)
            assert new.tolist() == [1] * GEN, ("not one token per step", new.tolist())
            assert not (x == 126336).any()
            out[name + ".prompt"] = torch.tensor(prompt)
            out[name + ".history"] = history
            cases[name] = {"prompt_len": len(prompt), "gen_length": GEN, "steps": GEN, "block_length": block}
    manifest["greedy"] = {
        "cases": cases,
        "what": ("generate.py generate(model, prompt, steps=gen_length, gen_length, block_length, "
                 "temperature=0, remasking='low_confidence'): one row at a time; history[i] is the "
                 "canvas after step i+1 (exactly one new token per step)")}


def record_dream_greedy(model, out: dict, manifest: dict) -> None:
    prompts = dllm_tiny.input_rows(dllm_tiny.SEED + 4, [6, 9], 151666, masked=0.0)
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), 151643)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for b, p in enumerate(prompts):                      # left padding, as Dream's examples do
        ids[b, width - len(p):] = torch.tensor(p)
        attention[b, width - len(p):] = 1
    out["greedy.ids"] = ids
    out["greedy.attention"] = attention
    cases = {}
    # top_k=None, top_p=None: left unset, diffusion_generate takes top_k=50 and top_p=1.0 from
    # the model config's legacy generation defaults, and its confidence becomes the probability
    # renormalised over the top 50 (the greedy token is the same; the commit order is not).
    # eps < 0 makes Dream's schedule commit exactly one token per step (with the default
    # eps=1e-3, int(n * (1 - s/t)) rounds the first step down to 0 and the last step does 2).
    for alg in ("maskgit_plus", "topk_margin", "entropy"):
        name = f"greedy.{alg}"
        result = model.diffusion_generate(
            ids, attention_mask=attention, max_new_tokens=GEN, steps=GEN, alg=alg, alg_temp=0.0,
            temperature=0.0, top_k=None, top_p=None, eps=-1e-3, output_history=True,
            return_dict_in_generate=True,
            mask_token_id=151666, pad_token_id=151643, eos_token_id=151643, bos_token_id=151643)
        history = torch.stack(result.history, dim=1)     # (B, steps, L)
        start = torch.cat([ids, torch.full((len(prompts), GEN), 151666)], dim=1)
        before = torch.cat([start[:, None], history[:, :-1]], dim=1)
        new = ((before == 151666) & (history != 151666)).sum(-1)
        assert (new == 1).all(), ("not one token per step", new.tolist())
        out[name + ".history"] = history
        cases[name] = {"alg": alg, "gen_length": GEN, "steps": GEN, "eps": -1e-3}
    manifest["greedy"] = {
        "cases": cases,
        "what": ("model.diffusion_generate(left-padded batch, attention_mask, max_new_tokens, steps, alg, "
                 "temperature=0, top_k=None, top_p=None, eps=-1e-3): history[b, i] is row b's canvas after step i+1")}


def record_dreamon(generator_file: Path, reference: Path, work: Path, out_dir: Path) -> dict:
    """DreamOn's own variable-length sampler (eval/generator.py of DreamLM/DreamOn:
    ``MDMGenerator.batch_generate_with_expand_as_token``, its evaluation settings but greedy)
    on the Dream architecture with the "dreamon" tiny weights; one prompt at a time (its
    sampler supports batch size 1). Records each prompt, every intermediate middle, the final
    middle and the number of forward passes."""
    from types import SimpleNamespace

    folder = work / "dreamon"
    folder.mkdir()
    shutil.copy(generator_file, folder / "dreamon_generator.py")
    module = load_module("dreamon_generator", folder / "dreamon_generator.py")
    model = official_model("dream", reference, work / "dreamon-model", weights=dllm_tiny.make_weights("dream", variant="dreamon"))
    max_gen = 12
    cfg = SimpleNamespace(temperature=0.0, top_p=None, top_k=None, show_progress=False, dtype="fp32",
                          device="cpu", max_tokens=2048, min_gen_len=4, max_prompt_len=1024,
                          max_gen_len=max_gen, pad_to_max_len=False, pad_eos_to_right=True, batch_size=1,
                          eps=1e-3, steps=128, alg="entropy", alg_temp=0.0, delete_eos_token=True)
    tokenizer = SimpleNamespace(mask_id=151666, expand_id=151667, eos_id=151643)
    generator = module.MDMGenerator(cfg, model, tokenizer)
    out, cases = {}, {}
    for seed in range(6):
        prefix, suffix = dllm_tiny.input_rows(dllm_tiny.SEED + 100 + seed, [7, 5], 151666, masked=0.0)
        prompt = [151665] + prefix + [151666] * cfg.min_gen_len + suffix + [151643]
        rec = Recorder(model)
        x, length = generator.batch_generate_with_expand_as_token(torch.tensor([prompt]))
        rec.release()
        start = 1 + len(prefix)
        middles = []
        for canvas in [c[0] for c in rec.calls] + [x[0]]:
            real = (canvas != 151666).nonzero().flatten()
            end = int(real[-1]) + 1 - len(suffix) - 1     # the window ends with suffix + EOS
            middles.append(canvas[start:end].tolist())
        middle = x[0, start:start + length].tolist()
        assert middles[-1] == middle, (middles[-1], middle)
        assert 151666 not in middle
        name = f"dreamon.{seed}"
        out[name + ".prompt"] = torch.tensor(prompt)
        width = max(len(m) for m in middles)
        out[name + ".middles"] = torch.tensor([m + [-1] * (width - len(m)) for m in middles])
        cases[name] = {"prefix_len": len(prefix), "suffix_len": len(suffix), "passes": len(rec.calls),
                       "final_length": length, "grew": max(len(m) for m in middles) > cfg.min_gen_len,
                       "ended_early": length < cfg.min_gen_len}
    from safetensors.torch import save_file

    save_file(out, str(out_dir / "dreamon.safetensors"))
    assert any(c["grew"] for c in cases.values()) and any(c["ended_early"] for c in cases.values())
    return {"cases": cases, "max_gen_len": max_gen, "min_gen_len": cfg.min_gen_len,
            "what": ("DreamOn eval/generator.py MDMGenerator.batch_generate_with_expand_as_token, "
                     "alg=entropy, temperature=0, delete_eos_token and pad_eos_to_right on; middles[i] is "
                     "the middle (masks included) the i-th forward pass saw, the last row the result "
                     "(padded with -1)")}


def record_tokenizer(reference: Path, work: Path, out_dir: Path) -> dict:
    from transformers import AutoTokenizer

    from infill.backends.tokenizer_files import load_tokenizer

    folder = work / "dream-tokenizer"
    folder.mkdir()
    for name in ("tokenization_dream.py", "vocab.json", "merges.txt", "tokenizer_config.json",
                 "special_tokens_map.json", "added_tokens.json"):
        shutil.copy(reference / "dream" / name, folder / name)
    slow = AutoTokenizer.from_pretrained(folder, trust_remote_code=True, local_files_only=True)
    assert not slow.is_fast, type(slow)
    fast = load_tokenizer(folder).backend_tokenizer
    texts = list(SAMPLE_TEXTS)
    for file in sorted((ROOT / "infill").rglob("*.py"))[:40]:   # a larger sample: code
        texts.append(file.read_text())
    bad = 0
    for text in texts + SPECIAL_TEXTS:
        a = slow.encode(text, add_special_tokens=False)
        b = fast.encode(text, add_special_tokens=False).ids
        if a != b:
            bad += 1
            print("MISMATCH", repr(text[:60]), a[:20], b[:20])
        assert fast.decode(b, skip_special_tokens=False) == slow.decode(a, skip_special_tokens=False)
    assert bad == 0, f"{bad} texts tokenized differently"
    record = {"texts": SAMPLE_TEXTS + SPECIAL_TEXTS,
              "ids": [slow.encode(t, add_special_tokens=False) for t in SAMPLE_TEXTS + SPECIAL_TEXTS],
              "checked_texts": len(texts) + len(SPECIAL_TEXTS),
              "what": "slow DreamTokenizer (tokenization_dream.py), encode(text, add_special_tokens=False)"}
    (out_dir / "tokenizer.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    return {"checked_texts": record["checked_texts"], "identical": True}


def check_native(family: str, model, out: dict) -> dict:
    """The project's native forward on the same weights, here too (the tests repeat the
    checks): max |logit difference| to the official forward in float32, and in bfloat16
    (both models in bf16, on CPU), with the bf16 logits' scale for context. Records the
    official bf16 logits at the recorded columns as ``forward.R.logits_bf16``."""
    from infill.backends import dream, llada

    module = llada if family == "llada" else dream
    found = {"float32": 0.0, "bfloat16": 0.0, "bfloat16_logit_absmax": 0.0,
             "bfloat16_top1_agreement": 0.0}
    agree = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = dllm_tiny.write_checkpoint(Path(tmp), family)
        net32 = module.load_model(path, "cpu", torch.float32)
        net16 = module.load_model(path, "cpu", torch.bfloat16)
        official16 = copy.deepcopy(model).to(torch.bfloat16)
        # .to() casts Dream's rotary inv_freq buffers too; from_pretrained(torch_dtype=bf16)
        # keeps them float32 (computed with an explicit .float()): restore them
        originals = dict(model.named_buffers())
        for name, module_ in official16.named_modules():
            if "inv_freq" in getattr(module_, "_buffers", {}):
                module_.inv_freq = originals[f"{name}.inv_freq" if name else "inv_freq"].clone()
        r = 0
        while f"forward.{r}.ids" in out:
            ids = out[f"forward.{r}.ids"][None]
            with torch.no_grad():
                a = net32(ids)[0].float()
                b = net16(ids)[0].float()
                c = official16(ids).logits[0].float()
            found["float32"] = max(found["float32"], float((a[:, out["columns"]] - out[f"forward.{r}.logits"]).abs().max()))
            found["bfloat16"] = max(found["bfloat16"], float((b - c).abs().max()))
            out[f"forward.{r}.logits_bf16"] = c[:, out["columns"]].contiguous()
            found["bfloat16_logit_absmax"] = max(found["bfloat16_logit_absmax"], float(c.abs().max()))
            agree += int((b.argmax(-1) == c.argmax(-1)).sum())
            total += b.shape[0]
            r += 1
    found["bfloat16_top1_agreement"] = agree / total
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "reference" / "dllm")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "dllm")
    parser.add_argument("--dreamon-generator", type=Path, default=None,
                        help="eval/generator.py of DreamLM/DreamOn (needs omegaconf and tqdm installed)")
    args = parser.parse_args()
    from safetensors.torch import save_file
    import transformers

    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {"torch": torch.__version__, "transformers": transformers.__version__,
                "seed": dllm_tiny.SEED, "script": "scripts/make_dllm_references.py", "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for family, mask_id in (("llada", 126336), ("dream", 151666)):
            out: dict[str, torch.Tensor] = {}
            info: dict = {}
            model = official_model(family, args.reference, work)
            record_forward(family, model, mask_id, out, info)
            if family == "llada":
                record_llada_greedy(model, args.reference, out, info)
            else:
                record_dream_greedy(model, out, info)
            info["native_vs_official"] = check_native(family, model, out)
            print(family, "native vs official:", info["native_vs_official"])
            save_file({k: v.contiguous() for k, v in out.items()}, str(args.out / f"{family}.safetensors"))
            manifest["families"][family] = info
        manifest["tokenizer"] = record_tokenizer(args.reference, work, args.out)
        if args.dreamon_generator:
            manifest["dreamon"] = record_dreamon(args.dreamon_generator, args.reference, work, args.out)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"wrote {args.out} ({total / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
