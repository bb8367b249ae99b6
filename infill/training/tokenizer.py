"""The house tokenizer: byte-level BPE with the canvas special tokens at ids 0..14.

Byte-level BPE with no normalizer and a ByteLevel decoder round-trips any string exactly
(``decode(encode(x)) == x``). Special tokens are registered with the tokenizer so that they
get their fixed ids, but text is always encoded with special-token matching *off*
(``encode_special_tokens = True`` on the Rust tokenizer): a literal ``<mask>`` in a source
file is ordinary bytes, and special tokens are only ever inserted by id (CONTRACTS.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infill.config import InfillConfig
from infill.languages import EXTENSIONS as LANGUAGE_OF
from infill.languages import HEADER_LANGUAGES

LANGUAGES = HEADER_LANGUAGES  # one table: infill.languages
SPECIAL_TOKENS = ("<mask>", "<null>", "<bos>", "<eos>", "<pad>") + tuple(f"<lang:{name}>" for name in LANGUAGES)

# The extensions the corpus takes (training's choice); their languages come from the one
# table in infill.languages.
EXTENSIONS = {ext: LANGUAGE_OF[ext] for ext in (
    ".py", ".js", ".mjs", ".ts", ".tsx", ".c", ".h", ".cc", ".cpp", ".hpp", ".rs", ".go", ".md",
    ".rst")}
# What a newly trained checkpoint recommends: the settings the house model ships with
# (models/house/infill_config.json, chosen on the development sets; MODEL_CARD.md), so that a
# new model is filled and evaluated as the one it may replace.
DEFAULT_SAMPLER = {"strategy": "threshold", "temperature": 0.0, "threshold": 0.9,
                   "null_threshold": 0.3, "hole_budget": 48, "line_budget": 24,
                   "cache_refresh": 4, "retries": 3, "copies": 8}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 16384, out_dir: str | Path | None = None):
    """Train a byte-level BPE on ``texts``; save it to ``out_dir`` (if given) and return it.

    The returned ``PreTrainedTokenizerFast`` has ``mask/pad/bos/eos`` tokens set and special
    ids 0..14 in ``SPECIAL_TOKENS`` order; ``AutoTokenizer.from_pretrained(out_dir)`` loads it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = wrap_tokenizer(tok)
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def wrap_tokenizer(tok):
    """Wrap a ``tokenizers.Tokenizer`` as a ``PreTrainedTokenizerFast`` with our special tokens."""
    from transformers import PreTrainedTokenizerFast

    for i, s in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(s) != i:
            raise ValueError(f"special token {s!r} has id {tok.token_to_id(s)}, expected {i}")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        mask_token="<mask>", pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
        additional_special_tokens=list(SPECIAL_TOKENS[5:]) + ["<null>"],
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )
    return fast


def load_tokenizer(path: str | Path):
    """Load a saved house tokenizer (``AutoTokenizer``), with special-token matching off."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    tok._tokenizer.encode_special_tokens = True
    return tok


def encode_text(tokenizer, text: str) -> list[int]:
    """Token ids of literal ``text``: never a special id, no bos/eos added."""
    raw = tokenizer._tokenizer if hasattr(tokenizer, "_tokenizer") else tokenizer
    if not raw.encode_special_tokens:
        raw.encode_special_tokens = True
    return raw.encode(text, add_special_tokens=False).ids


def encode_texts(tokenizer, texts: list[str]) -> list[list[int]]:
    """Batch version of ``encode_text`` (the Rust tokenizer runs it in parallel)."""
    raw = tokenizer._tokenizer if hasattr(tokenizer, "_tokenizer") else tokenizer
    if not raw.encode_special_tokens:
        raw.encode_special_tokens = True
    return [e.ids for e in raw.encode_batch(texts, add_special_tokens=False)]


def decode_ids(tokenizer, ids: list[int]) -> str:
    """Text of ``ids`` (special ids must not be in ``ids``: they would decode to nothing)."""
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def special_ids(tokenizer) -> dict[str, int]:
    """Ids of the canvas special tokens, looked up from the tokenizer (never hard-coded)."""
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in SPECIAL_TOKENS}
    missing = [s for s, i in ids.items() if i is None or i == tokenizer.unk_token_id]
    if missing:
        raise ValueError(f"tokenizer lacks the special tokens {missing}; train it with train_tokenizer")
    return ids


def language_ids(tokenizer) -> dict[str, int]:
    """``{"python": id, ...}`` for every language header token."""
    ids = special_ids(tokenizer)
    return {name: ids[f"<lang:{name}>"] for name in LANGUAGES}


def write_infill_config(out_dir: str | Path, tokenizer, **fields: Any) -> Path:
    """Write ``out_dir/infill_config.json`` (CONTRACTS.md) with ids from ``tokenizer``.

    ``fields`` override top-level keys (``max_context``, ``sampler``, ``training`` ...).
    """
    ids = special_ids(tokenizer)
    config: dict[str, Any] = {
        "format": 1,
        "mask_id": ids["<mask>"], "null_id": ids["<null>"], "bos_id": ids["<bos>"],
        "eos_id": ids["<eos>"], "pad_id": ids["<pad>"],
        "language_ids": language_ids(tokenizer),
        "extensions": dict(EXTENSIONS),
        "max_context": 1024,
        "replaced_token_detection": True,
        "sampler": dict(DEFAULT_SAMPLER),
        "training": {"tokens_seen": 0, "corpus": "", "notes": ""},
    }
    config.update(fields)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return InfillConfig.from_dict(config).save(out_dir)  # validated: a bad id fails here
