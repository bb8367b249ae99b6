"""Tokenizers from a checkpoint's files, without transformers' tokenizer classes or remote code.

- ``tokenizer.json`` when it ships (LLaDA, most checkpoints);
- otherwise a byte-level BPE built from ``vocab.json`` + ``merges.txt`` (Dream ships only
  those and a slow, remote-code ``DreamTokenizer``): Qwen2's pre-tokenizer pattern, NFC
  normalisation, byte-level decoding; every token of ``tokenizer_config.json``'s
  ``added_tokens_decoder`` (and ``added_tokens.json``) sits at its own id. The result gives
  the same ids as the slow tokenizer (checked by scripts/make_dllm_references.py on a text
  sample, recorded in tests/fixtures/dllm/).

Special-token strings are never matched in text here either: ``TextCodec`` turns matching off.
"""

from __future__ import annotations

import json
from pathlib import Path

from infill.errors import ModelError

# Qwen2 / Dream pre-tokenization (a fact of the vocabulary the merges were learned on).
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


class FileTokenizer:
    """What ``TextCodec`` needs: a ``tokenizers.Tokenizer`` as ``backend_tokenizer``, plus the
    checkpoint's special tokens (content -> id) and its tokenizer_config.json."""

    def __init__(self, backend, specials: dict[str, int], config: dict) -> None:
        self.backend_tokenizer = backend
        self.specials = specials
        self.config = config

    def token_id(self, name: str) -> int | None:
        """The id of the token tokenizer_config.json calls ``name`` (``"eos_token"`` ...)."""
        value = self.config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if not isinstance(value, str):
            return None
        if value in self.specials:
            return self.specials[value]
        return self.backend_tokenizer.token_to_id(value)


def _json(file: Path) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read {file.name} ({exc.strerror or exc})", path=str(file.parent)) from exc
    except ValueError as exc:
        raise ModelError(f"{file.name} is not valid JSON ({exc})", path=str(file.parent)) from exc
    if not isinstance(data, dict):
        raise ModelError(f"{file.name} is not a JSON object", path=str(file.parent))
    return data


def added_tokens(path: Path) -> tuple[dict[str, int], dict]:
    """(content -> id for every added/special token, tokenizer_config.json) of a checkpoint."""
    config = _json(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
    found: dict[str, int] = {}
    if (path / "added_tokens.json").is_file():
        for content, i in _json(path / "added_tokens.json").items():
            found[str(content)] = int(i)
    decoder = config.get("added_tokens_decoder") or {}
    if not isinstance(decoder, dict):
        raise ModelError("tokenizer_config.json: added_tokens_decoder is not an object", path=str(path))
    for i, entry in decoder.items():
        content = entry.get("content") if isinstance(entry, dict) else None
        if not isinstance(content, str) or not str(i).isdigit():
            raise ModelError(f"tokenizer_config.json: bad added token {i!r}", path=str(path))
        found[content] = int(i)
    return found, config


def from_vocab_merges(path: Path, specials: dict[str, int]):
    """A ``tokenizers.Tokenizer``: byte-level BPE from vocab.json + merges.txt (Qwen2 style)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    vocab = _json(path / "vocab.json")
    try:
        lines = (path / "merges.txt").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError(f"cannot read merges.txt ({exc.strerror or exc})", path=str(path)) from exc
    merges = []
    for n, line in enumerate(lines, 1):
        if not line or (n == 1 and line.startswith("#version")):
            continue
        pair = line.split(" ")
        if len(pair) != 2:
            raise ModelError(f"merges.txt:{n}: not a pair of tokens", path=str(path))
        merges.append((pair[0], pair[1]))
    vocab = {str(k): int(v) for k, v in vocab.items()}
    taken = {i: s for s, i in vocab.items()}
    for content, i in specials.items():
        if taken.get(i, content) != content:
            raise ModelError(f"added token {content!r} collides with {taken[i]!r} at id {i}", path=str(path))
        vocab[content] = i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(c, special=True, normalized=False) for c, _ in
                            sorted(specials.items(), key=lambda kv: kv[1])])
    for content, i in specials.items():
        if tok.token_to_id(content) != i:
            raise ModelError(f"added token {content!r} did not land on id {i}", path=str(path))
    return tok


def load_tokenizer(path: Path) -> FileTokenizer:
    """The checkpoint's tokenizer: tokenizer.json, or one built from vocab.json + merges.txt."""
    from tokenizers import Tokenizer

    specials, config = added_tokens(path)
    if (path / "tokenizer.json").is_file():
        try:
            backend = Tokenizer.from_file(str(path / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ModelError(f"unreadable tokenizer.json ({str(exc).splitlines()[0]})", path=str(path)) from exc
        for token in backend.get_added_tokens_decoder().values():
            specials.setdefault(token.content, backend.token_to_id(token.content))
    elif (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        backend = from_vocab_merges(path, specials)
    else:
        raise ModelError("no tokenizer: neither tokenizer.json nor vocab.json + merges.txt", path=str(path))
    return FileTokenizer(backend, specials, config)
