"""The house tokenizer: special ids, exact round trips, literal special-token text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infill.training.tokenizer import (
    LANGUAGES,
    SPECIAL_TOKENS,
    decode_ids,
    encode_text,
    load_tokenizer,
    special_ids,
    train_tokenizer,
    write_infill_config,
)

SAMPLE = [
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n\tprint(i, '<mask>')\r\n",
    "fn main() { println!(\"héllo wörld\"); }\n",
    "# Title\n\nSome *prose* with unicode: λ → ∀ 😀\n",
] * 20

LITERALS = ["<mask>", "<null>", "<bos>", "<eos>", "<pad>", "<lang:python>", "<|mdm_mask|>", "<|endoftext|>"]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(SAMPLE, vocab_size=400, out_dir=out)
    return out


@pytest.fixture(scope="module")
def tok(tok_dir):
    return load_tokenizer(tok_dir)


def test_special_ids_are_0_to_14_in_order(tok):
    assert SPECIAL_TOKENS[:5] == ("<mask>", "<null>", "<bos>", "<eos>", "<pad>")
    assert len(SPECIAL_TOKENS) == 15
    assert [tok.convert_tokens_to_ids(s) for s in SPECIAL_TOKENS] == list(range(15))
    assert special_ids(tok) == {s: i for i, s in enumerate(SPECIAL_TOKENS)}


def test_auto_tokenizer_loads_with_roles(tok_dir):
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(tok_dir))
    assert (auto.mask_token, auto.pad_token, auto.bos_token, auto.eos_token) == ("<mask>", "<pad>", "<bos>", "<eos>")
    assert (auto.mask_token_id, auto.pad_token_id, auto.bos_token_id, auto.eos_token_id) == (0, 4, 2, 3)
    # encode_text turns special-token matching off even on a plainly loaded tokenizer
    assert min(encode_text(auto, "x = '<mask>'<null>")) >= 15


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(), st.sampled_from(LITERALS)), max_size=8).map("".join))
def test_round_trip_and_no_special_ids(tok, text):
    ids = encode_text(tok, text)
    assert all(i >= len(SPECIAL_TOKENS) for i in ids)
    assert decode_ids(tok, ids) == text


@pytest.mark.parametrize("text", LITERALS + ["a<mask>b", "\r\n\t  <null>\n", ""])
def test_literal_special_text_is_ordinary_bytes(tok, text):
    ids = encode_text(tok, text)
    assert all(i >= 15 for i in ids)
    assert decode_ids(tok, ids) == text


def test_infill_config_ids_come_from_the_tokenizer(tok, tmp_path):
    path = write_infill_config(tmp_path, tok, max_context=256, training={"tokens_seen": 5, "corpus": "c", "notes": ""})
    cfg = json.loads(path.read_text())
    assert cfg["format"] == 1
    assert (cfg["mask_id"], cfg["null_id"], cfg["bos_id"], cfg["eos_id"], cfg["pad_id"]) == (0, 1, 2, 3, 4)
    assert cfg["language_ids"] == {name: 5 + i for i, name in enumerate(LANGUAGES)}
    assert cfg["extensions"][".py"] == "python" and cfg["extensions"][".tsx"] == "typescript"
    assert cfg["max_context"] == 256 and cfg["replaced_token_detection"] is True
    # A new checkpoint is filled (and evaluated) with the settings the house model ships with.
    house = json.loads((Path(__file__).parents[1] / "models" / "house" / "infill_config.json").read_text())
    assert cfg["sampler"] == house["sampler"]
    assert cfg["training"]["tokens_seen"] == 5
