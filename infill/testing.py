"""A tiny random-weight checkpoint for tests and demos: fast, offline, structurally real.

``make_tiny_model(dir)`` writes a ModernBERT masked LM (hidden 32, 2 layers) with a byte-level
BPE tokenizer and an ``infill_config.json``, the same layout as the house model. Its fills are
noise; tests use it to check structure (bytes kept, markers gone, frames, exit codes), never
quality.
"""

from __future__ import annotations

from pathlib import Path

from infill.config import InfillConfig
from infill.languages import HEADER_LANGUAGES

SPECIALS = ["<mask>", "<null>", "<bos>", "<eos>", "<pad>"]
LANGS = list(HEADER_LANGUAGES)

_TRAINING_TEXT = """def add(a, b):
    return a + b

class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

function greet(name) { return `hello ${name}`; }
fn main() { let mut total = 0; for i in 0..10 { total += i; } println!("{}", total); }
package main
func main() { fmt.Println("hello") }
# A heading

Some prose about the project, with a list:
- one
- two
"""


def make_tiny_model(directory: str | Path, seed: int = 0, vocab_size: int = 400,
                    max_context: int = 256) -> Path:
    """Write a tiny random-weight infill checkpoint to ``directory`` and return its path."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import ModernBertConfig, ModernBertForMaskedLM, PreTrainedTokenizerFast

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    specials = SPECIALS + [f"<lang:{name}>" for name in LANGS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([_TRAINING_TEXT] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, mask_token="<mask>", pad_token="<pad>",
                                   bos_token="<bos>", eos_token="<eos>")
    fast.save_pretrained(out)
    ids = {name: tok.token_to_id(name) for name in specials}

    torch.manual_seed(seed)
    config = ModernBertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=max_context,
        pad_token_id=ids["<pad>"], bos_token_id=ids["<bos>"], eos_token_id=ids["<eos>"],
        cls_token_id=ids["<bos>"], sep_token_id=ids["<eos>"], global_attn_every_n_layers=1,
        local_attention=max_context, tie_word_embeddings=True,
    )
    model = ModernBertForMaskedLM(config)
    model.save_pretrained(out, safe_serialization=True)
    InfillConfig(
        mask_id=ids["<mask>"], null_id=ids["<null>"], bos_id=ids["<bos>"],
        eos_id=ids["<eos>"], pad_id=ids["<pad>"],
        language_ids={name: ids[f"<lang:{name}>"] for name in LANGS},
        extensions={".py": "python", ".js": "javascript", ".rs": "rust", ".go": "go", ".md": "markdown"},
        max_context=max_context, replaced_token_detection=False,
        sampler={"strategy": "confidence", "temperature": 0.0, "threshold": 0.9,
                 "hole_budget": 12, "line_budget": 8},
        training={"tokens_seen": 0, "notes": "random weights, for tests"},
    ).save(out)
    return out
