"""Tokenizers from a checkpoint's files: tokenizer.json, or vocab.json + merges.txt (Dream)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from infill.backends.base import TextCodec
from infill.backends.tokenizer_files import load_tokenizer
from infill.errors import ModelError

FIXTURES = Path(__file__).parent / "fixtures" / "dllm"
# The official files sit in shared/ beside the repository on the project's machines.
REFERENCE = Path(os.environ.get("INFILL_DLLM_REFERENCE",
                                Path(__file__).resolve().parents[2] / "shared" / "reference" / "dllm"))


@pytest.mark.skipif(not (REFERENCE / "dream" / "vocab.json").is_file(),
                    reason="the official Dream tokenizer files are not on this machine")
def test_dream_fast_tokenizer_matches_slow_dream_tokenizer(tmp_path):
    """Built from Dream's real vocab.json + merges.txt, the fast tokenizer gives the ids the
    slow DreamTokenizer gave (recorded by scripts/make_dllm_references.py)."""
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json"):
        shutil.copy(REFERENCE / "dream" / name, tmp_path / name)
    tok = load_tokenizer(tmp_path)
    record = json.loads((FIXTURES / "tokenizer.json").read_text())
    for text, ids in zip(record["texts"], record["ids"]):
        assert tok.backend_tokenizer.encode(text, add_special_tokens=False).ids == ids, text
    assert tok.specials["<|mask|>"] == 151666 and tok.specials["<|endoftext|>"] == 151643
    assert tok.token_id("eos_token") == 151643 and tok.token_id("bos_token") == 151665
    # through the codec, special-token text is ordinary text
    codec = TextCodec(tok)
    assert 151666 not in codec.encode("x = '<|mask|>'")
    assert codec.decode(codec.encode("x = '<|mask|>'")) == "x = '<|mask|>'"


def small_bpe(path: Path, added: dict[int, str]) -> Path:
    """A byte-level vocabulary of the 256 byte symbols plus a few merges."""
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(alphabet)}
    merges = ["d e", "de f", "Ġ r", "Ġr e"]
    for m in merges:
        vocab["".join(m.split(" "))] = len(vocab)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    decoder = {str(i): {"content": s, "special": True, "normalized": False, "lstrip": False,
                        "rstrip": False, "single_word": False} for i, s in added.items()}
    (path / "tokenizer_config.json").write_text(json.dumps(
        {"added_tokens_decoder": decoder, "eos_token": "<|end|>", "pad_token": {"content": "<|end|>"},
         "bos_token": None}))
    return path


def test_vocab_merges_tokenizer(tmp_path):
    n = 256 + 4
    path = small_bpe(tmp_path / "m", {n: "<|end|>", n + 5: "<|mask|>"})  # a gap: ids kept as given
    tok = load_tokenizer(path)
    backend = tok.backend_tokenizer
    assert backend.token_to_id("<|end|>") == n and backend.token_to_id("<|mask|>") == n + 5
    assert tok.token_id("eos_token") == n and tok.token_id("pad_token") == n
    assert tok.token_id("bos_token") is None
    ids = backend.encode("def return", add_special_tokens=False).ids
    assert backend.token_to_id("def") in ids and backend.token_to_id("Ġre") in ids
    text = "naïve café\r\n\tx = 1  # <|mask|>\n"
    codec = TextCodec(tok)
    assert n + 5 not in codec.encode(text)
    assert codec.decode(codec.encode(text)) == text


def test_tokenizer_json_wins(tmp_path):
    from tokenizers import Tokenizer, models

    path = small_bpe(tmp_path / "m", {260: "<|end|>"})
    Tokenizer(models.BPE(vocab={"a": 0, "<unk>": 1}, merges=[], unk_token="<unk>")).save(str(path / "tokenizer.json"))
    assert load_tokenizer(path).backend_tokenizer.get_vocab_size() == 2


@pytest.mark.parametrize("breakage,words", [
    (lambda p: (p / "vocab.json").write_text("{oops"), "vocab.json is not valid JSON"),
    (lambda p: (p / "merges.txt").write_text("#version: 0.2\na b c\n"), "merges.txt:2"),
    (lambda p: (p / "tokenizer_config.json").write_text("[]"), "not a JSON object"),
    (lambda p: [(p / f).unlink() for f in ("vocab.json", "merges.txt")], "no tokenizer"),
    (lambda p: (p / "tokenizer.json").write_text("garbage"), "unreadable tokenizer.json"),
    (lambda p: (p / "added_tokens.json").write_text(json.dumps({"<|x|>": 3})), "collides"),
])
def test_broken_tokenizer_files(tmp_path, breakage, words):
    path = small_bpe(tmp_path / "m", {260: "<|end|>"})
    breakage(path)
    with pytest.raises(ModelError, match=words.replace("|", r"\|").replace(".", r"\.")):
        load_tokenizer(path)
