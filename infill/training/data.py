"""Corpus shards to training examples in the canvas layout (CONTRACTS.md).

Rows are streamed from ``CORPUS/shards/{split}-NNN.jsonl.xz`` in a deterministic order (a seeded
shard permutation per epoch, several shards interleaved, a shuffle buffer), so a run resumes
by skipping the rows it has consumed. Each row's examples are built with a ``random.Random``
seeded by ``(seed, row index)``: skipping a row never needs to build its examples.

Span examples choose spans in *character* space, like the editor does, and tokenize every
context segment and every span separately, like the inference canvas:

    <bos> <lang:X> ctx_0 | span_0 <null>*k0 | ctx_1 | span_1 <null>*k1 | ... ctx_n <eos>

Nulls always follow the span's tokens (k ~ U{0..max(4, len(span))}, or for a quarter of the
spans k ~ U{0..max(64, len(span))} so that wide slot budgets are in distribution); the span
tokens and their nulls are the maskable positions. Plain examples (a window of a file, no spans) make every
content token maskable (MDLM pre-training).
"""

from __future__ import annotations

import json
import lzma
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.data

from infill.training.tokenizer import LANGUAGES, encode_texts, special_ids


@dataclass(frozen=True)
class ExampleConfig:
    """How examples are drawn. Shares are probabilities."""

    seq_len: int = 256
    plain_share: float = 0.3
    # span kinds: rest of a line, 1-8 whole lines, 1-200 random characters, empty
    kind_weights: tuple[float, float, float, float] = (0.4, 0.3, 0.2, 0.1)
    n_spans_weights: tuple[float, float, float] = (0.6, 0.25, 0.15)
    unknown_language_share: float = 0.05
    # nulls after a span: k ~ U{0..max(4, n)}; a share of spans get k ~ U{0..max(wide_nulls, n)}
    # instead, so that the engine's default slot budgets (48 for a hole) are in distribution
    wide_null_share: float = 0.25
    wide_nulls: int = 64
    max_span_chars: int = 200
    max_lines: int = 8


@dataclass
class Example:
    """One training row: ``input_ids`` and ``maskable`` have the same length."""

    input_ids: list[int]
    maskable: list[bool]
    row: int = -1
    n_spans: int = 0


# ---------------------------------------------------------------- shards


def shard_paths(corpus: str | Path, split: str) -> list[Path]:
    """The shards of ``split`` (``train`` or ``heldout``), sorted; an error if there are none."""
    paths = sorted((Path(corpus) / "shards").glob(f"{split}-*.jsonl.xz"))
    if not paths:
        raise FileNotFoundError(f"no {split} shards in {Path(corpus) / 'shards'}; build the corpus first "
                                "(see docs/TRAINING.md)")
    return paths


def read_shard(path: Path) -> Iterator[dict]:
    """Rows ``{"id", "language", "text"}`` of one shard."""
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def iter_rows(corpus: str | Path, split: str, seed: int, interleave: int = 8,
              buffer: int = 512, epochs: int | None = None) -> Iterator[dict]:
    """Rows of ``split`` forever (or ``epochs`` times) in a deterministic shuffled order.

    Shards are permuted per epoch and read ``interleave`` at a time, through a shuffle buffer
    of ``buffer`` rows: a corpus written language by language still comes out mixed.
    """
    paths = shard_paths(corpus, split)
    epoch = 0
    while epochs is None or epoch < epochs:
        rng = random.Random(f"{seed}:{epoch}")
        order = paths[:]
        rng.shuffle(order)
        pending: list[dict] = []
        for g in range(0, len(order), interleave):
            streams = [read_shard(p) for p in order[g:g + interleave]]
            while streams:
                k = rng.randrange(len(streams))
                row = next(streams[k], None)
                if row is None:
                    streams.pop(k)
                    continue
                pending.append(row)
                if len(pending) >= buffer:
                    yield pending.pop(rng.randrange(len(pending)))
        rng.shuffle(pending)
        yield from pending
        epoch += 1


def sample_texts(corpus: str | Path, max_bytes: int = 50_000_000, seed: int = 0) -> list[str]:
    """Up to ``max_bytes`` of train texts, balanced by language (for tokenizer training).

    Budgets are water-filled from the manifest: a language with little data gives all of it,
    the rest share what is left equally.
    """
    totals: dict[str, int] = {}
    manifest = Path(corpus) / "manifest.jsonl"
    if manifest.exists():
        with open(manifest, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row.get("split") == "train":
                    totals[row["language"]] = totals.get(row["language"], 0) + int(row.get("bytes", 0))
    budget = _water_fill(totals, max_bytes) if totals else None
    texts: list[str] = []
    used: dict[str, int] = {}
    total = 0
    for row in iter_rows(corpus, "train", seed, epochs=1):
        lang, n = row["language"], len(row["text"].encode("utf-8"))
        cap = budget.get(lang, 0) if budget is not None else max_bytes
        if used.get(lang, 0) + n > cap and used.get(lang, 0) > 0:
            continue
        texts.append(row["text"])
        used[lang] = used.get(lang, 0) + n
        total += n
        if total >= max_bytes or (budget is not None and all(used.get(k, 0) >= 0.98 * v for k, v in budget.items())):
            break
    return texts


def _water_fill(totals: dict[str, int], budget: int) -> dict[str, int]:
    """Split ``budget`` over languages: small ones whole, the rest equally."""
    out: dict[str, int] = {}
    left = dict(totals)
    remaining = budget
    while left:
        share = remaining // len(left)
        small = {k: v for k, v in left.items() if v <= share}
        if not small:
            out.update({k: share for k in left})
            break
        for k, v in small.items():
            out[k] = v
            remaining -= v
            del left[k]
    return out


# ---------------------------------------------------------------- examples


class ExampleBuilder:
    """Builds ``Example``s from file texts with a tokenizer (see the module docstring)."""

    def __init__(self, tokenizer, config: ExampleConfig):
        self.tokenizer = tokenizer
        self.config = config
        ids = special_ids(tokenizer)
        self.bos, self.eos, self.null = ids["<bos>"], ids["<eos>"], ids["<null>"]
        self.lang_ids = {name: ids[f"<lang:{name}>"] for name in LANGUAGES}
        self.budget = config.seq_len - 3  # <bos> <lang> ... <eos>

    def examples_for_row(self, text: str, language: str, row: int, seed: int) -> list[Example]:
        """All examples drawn from one file: about one per ``3 * seq_len`` characters, 1 to 4."""
        rng = random.Random(f"{seed}:{row}")
        n = max(1, min(4, round(len(text) / (3 * self.config.seq_len))))
        out = []
        for _ in range(n):
            ex = self.build(text, language, rng)
            if ex is not None:
                ex.row = row
                out.append(ex)
        return out

    def build(self, text: str, language: str, rng: random.Random) -> Example | None:
        """A span example, or (share ``plain_share``, or when no span fits) a plain one."""
        if not text:
            return None
        lang = self._lang_id(language, rng)
        if rng.random() >= self.config.plain_share:
            ex = self._span_example(text, lang, rng)
            if ex is not None:
                return ex
        return self._plain_example(text, lang, rng)

    def _lang_id(self, language: str, rng: random.Random) -> int:
        if language not in self.lang_ids or rng.random() < self.config.unknown_language_share:
            return self.lang_ids["unknown"]
        return self.lang_ids[language]

    def _plain_example(self, text: str, lang: int, rng: random.Random) -> Example:
        width = 8 * self.config.seq_len  # characters: always more than budget tokens of code
        start = 0
        if len(text) > width:
            start = _line_start(text, rng.randrange(len(text) - width))
        toks = encode_texts(self.tokenizer, [text[start:start + width]])[0][: self.budget]
        ids = [self.bos, lang, *toks, self.eos]
        return Example(ids, [False, False] + [True] * len(toks) + [False])

    def _span_example(self, text: str, lang: int, rng: random.Random) -> Example | None:
        L = self.config.seq_len
        focus_start = _line_start(text, rng.randrange(len(text))) if len(text) > 3 * L else 0
        focus = (focus_start, min(len(text), focus_start + 3 * L))
        n_spans = rng.choices((1, 2, 3), weights=self.config.n_spans_weights)[0]
        spans: list[tuple[int, int]] = []
        for _ in range(4 * n_spans):
            if len(spans) == n_spans:
                break
            kind = rng.choices(range(4), weights=self.config.kind_weights)[0]
            span = choose_span(text, focus, kind, rng, self.config.max_span_chars, self.config.max_lines)
            if span is not None and all(span[0] > e or span[1] < s for s, e in spans):
                spans.append(span)
        spans.sort()
        win = (max(0, focus[0] - 4 * L), min(len(text), focus[1] + 4 * L))
        while spans:
            ex = self._layout(text, win, spans, lang, rng)
            if ex is not None:
                return ex
            spans.pop()
        return None

    def _layout(self, text: str, win: tuple[int, int], spans: list[tuple[int, int]], lang: int,
                rng: random.Random) -> Example | None:
        """Tokenize segments separately, add nulls, crop outer context; None if too long."""
        cuts = [win[0]] + [c for s, e in spans for c in (s, e)] + [win[1]]
        segments = [text[cuts[i]:cuts[i + 1]] for i in range(len(cuts) - 1)]
        toks = encode_texts(self.tokenizer, segments)  # ctx_0, span_0, ctx_1, ..., ctx_n
        middle_ids: list[int] = []
        middle_mask: list[bool] = []
        for i in range(1, len(toks) - 1):
            if i % 2:  # a span and its nulls
                span = toks[i]
                wide = rng.random() < self.config.wide_null_share
                k = rng.randint(0, max(self.config.wide_nulls if wide else 4, len(span)))
                middle_ids += span + [self.null] * k
                middle_mask += [True] * (len(span) + k)
            else:
                middle_ids += toks[i]
                middle_mask += [False] * len(toks[i])
        room = self.budget - len(middle_ids)
        if room < min(32, self.budget // 4):
            return None
        left_all, right_all = toks[0], toks[-1]
        left = min(len(left_all), rng.randint(room // 4, 3 * room // 4))
        right = min(len(right_all), room - left)
        left = min(len(left_all), room - right)
        ids = [self.bos, lang, *left_all[len(left_all) - left:], *middle_ids, *right_all[:right], self.eos]
        mask = [False] * (2 + left) + middle_mask + [False] * (right + 1)
        return Example(ids, mask, n_spans=len(spans))


def _line_start(text: str, pos: int) -> int:
    """The start of the line after ``pos`` (or ``pos`` when that is past the end)."""
    nl = text.find("\n", pos)
    return nl + 1 if 0 <= nl < len(text) - 1 else pos


def _lines(text: str, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """``(start, indent_end, content_end)`` of each line starting in ``[lo, hi)``.

    ``content_end`` excludes the line break (``\\n`` or ``\\r\\n``).
    """
    out = []
    pos = lo if lo == 0 or text[lo - 1] == "\n" else _line_start(text, lo)
    while pos < hi and pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl
        content_end = end - 1 if end > pos and text[end - 1] == "\r" else end
        body = text[pos:content_end]
        out.append((pos, pos + len(body) - len(body.lstrip(" \t")), content_end))
        if nl < 0:
            break
        pos = nl + 1
    return out


def choose_span(text: str, focus: tuple[int, int], kind: int, rng: random.Random,
                max_chars: int = 200, max_lines: int = 8) -> tuple[int, int] | None:
    """A span ``(start, end)`` in character offsets inside ``focus``; None if none fits.

    kind 0: the rest of a line from a cut point after its indentation, newline excluded
    (the editor's single-line hole); 1: 1 to ``max_lines`` whole lines (from the line start or
    after the indentation; the last line break excluded 70% of the time); 2: 1 to ``max_chars``
    random characters; 3: an empty span (at a line start or anywhere).
    """
    lo, hi = focus
    if kind == 2:
        start = rng.randrange(lo, hi) if hi > lo else lo
        end = min(len(text), start + rng.randint(1, max_chars))
        return (start, end) if end > start else None
    lines = _lines(text, lo, hi)
    if kind == 3:
        if lines and rng.random() < 0.5:
            pos = rng.choice(lines)[0]
        else:
            pos = rng.randint(lo, hi)
        return (pos, pos)
    candidates = [ln for ln in lines if ln[2] > ln[1]]  # lines with content
    if not candidates:
        return None
    if kind == 0:
        start, indent, end = rng.choice(candidates)
        return (rng.randrange(indent, end), end)
    i = lines.index(rng.choice(candidates))
    j = min(len(lines), i + rng.randint(1, max_lines)) - 1
    start = lines[i][0] if rng.random() < 0.5 else lines[i][1]
    end = lines[j][2]
    if rng.random() < 0.3 and end < len(text):
        end = text.find("\n", end) + 1 if text.find("\n", end) >= 0 else len(text)
    return (start, end) if end > start else None


# ---------------------------------------------------------------- batches


def collate(examples: list[Example], pad_id: int, pad_to: int | None = None, multiple: int = 8):
    """Pad a list of examples into tensors.

    Returns ``input_ids`` (B, L) long, ``maskable`` (B, L) bool, ``attention_mask`` (B, L) long
    and ``rows`` (B,) long. ``L`` is ``pad_to`` or the longest example rounded up to ``multiple``.
    """
    longest = max(len(e.input_ids) for e in examples)
    L = pad_to or -(-longest // multiple) * multiple
    B = len(examples)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    maskable = torch.zeros((B, L), dtype=torch.bool)
    attn = torch.zeros((B, L), dtype=torch.long)
    for b, e in enumerate(examples):
        n = len(e.input_ids)
        ids[b, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        maskable[b, :n] = torch.tensor(e.maskable, dtype=torch.bool)
        attn[b, :n] = 1
    rows = torch.tensor([e.row for e in examples], dtype=torch.long)
    return {"input_ids": ids, "maskable": maskable, "attention_mask": attn, "rows": rows}


def iter_examples(corpus: str | Path, split: str, builder: ExampleBuilder, seed: int, skip_rows: int = 0,
                  worker: int = 0, n_workers: int = 1, epochs: int | None = None) -> Iterator[Example]:
    """Examples from the rows of ``split`` after the first ``skip_rows``.

    With ``n_workers > 1`` this worker builds examples only for rows ``i % n_workers == worker``.
    """
    for i, row in enumerate(iter_rows(corpus, split, seed, epochs=epochs)):
        if i < skip_rows or i % n_workers != worker:
            continue
        yield from builder.examples_for_row(row["text"], row.get("language", "unknown"), i, seed)


def iter_batches(examples: Iterator[Example], batch_size: int, pad_id: int, pad_to: int | None = None,
                 shuffle_buffer: int = 0, seed: int = 0, group_by_length: bool = False) -> Iterator[dict]:
    """Group examples into collated batches (an optional shuffle buffer mixes a file's windows).

    ``group_by_length`` (without ``pad_to``): each batch is a run of similar lengths from the
    buffer, so that short examples (short files) are padded to each other, not to the context.
    """
    rng = random.Random(seed)
    pool: list[Example] = []
    for ex in examples:
        pool.append(ex)
        if len(pool) >= max(batch_size, shuffle_buffer):
            if shuffle_buffer:
                rng.shuffle(pool)
            if group_by_length and pad_to is None:
                pool.sort(key=lambda e: len(e.input_ids))
                start = rng.randrange(len(pool) - batch_size + 1)
                chosen = pool[start:start + batch_size]
                pool = pool[:start] + pool[start + batch_size:]
                rng.shuffle(chosen)
                yield collate(chosen, pad_id, pad_to)
                continue
            yield collate(pool[:batch_size], pad_id, pad_to)
            pool = pool[batch_size:]


class ExampleDataset(torch.utils.data.IterableDataset):
    """Collated training batches for a ``DataLoader`` with workers (the CUDA path).

    Each worker reads every row but builds examples only for its own rows (``row % n``).
    """

    def __init__(self, corpus, tokenizer_dir, config: ExampleConfig, seed: int, skip_rows: int,
                 batch_size: int, pad_to: int | None):
        self.args = (str(corpus), str(tokenizer_dir), config, seed, skip_rows, batch_size, pad_to)

    def __iter__(self):
        from infill.training.tokenizer import load_tokenizer

        corpus, tokenizer_dir, config, seed, skip_rows, batch_size, pad_to = self.args
        info = torch.utils.data.get_worker_info()
        worker, n = (info.id, info.num_workers) if info else (0, 1)
        tok = load_tokenizer(tokenizer_dir)
        builder = ExampleBuilder(tok, config)
        examples = iter_examples(corpus, "train", builder, seed, skip_rows, worker, n)
        yield from iter_batches(examples, batch_size, special_ids(tok)["<pad>"], pad_to,
                                shuffle_buffer=4 * batch_size, seed=seed * 1000 + worker)
