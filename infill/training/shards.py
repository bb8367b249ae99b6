"""The corpus's xz-compressed JSON-lines shards (docs/CONTRACTS.md, "Corpus layout")."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

# Uncompressed bytes written to a shard before the next one is started (contract: ~8 MiB).
SHARD_BYTES = 8 * 1024 * 1024


class ShardWriter:
    """Writes rows to ``PREFIX-NNN.jsonl.xz``, starting a new file every ``shard_bytes``.
    With a ``pool``, a finished shard is compressed in one of its processes while the next
    fills (the same files); ``close`` waits for them."""

    def __init__(self, directory: Path, prefix: str, preset: int, shard_bytes: int = SHARD_BYTES,
                 pool=None):
        self.directory, self.prefix, self.preset, self.shard_bytes = directory, prefix, preset, shard_bytes
        self.count, self.size, self.handle = 0, 0, None
        self.pool, self.lines, self.pending = pool, [], []

    def write(self, row: dict) -> None:
        line = json.dumps(row, ensure_ascii=False) + "\n"
        if self.count == 0 or self.size >= self.shard_bytes:
            self._finish()
            path = self.directory / f"{self.prefix}-{self.count:03d}.jsonl.xz"
            if self.pool is None:
                self.handle = lzma.open(path, "wt", encoding="utf-8", preset=self.preset)
            self.path, self.count, self.size = path, self.count + 1, 0
        if self.pool is None:
            self.handle.write(line)
        else:
            self.lines.append(line)
        self.size += len(line.encode("utf-8"))

    def _finish(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.lines:
            self.pending.append(self.pool.apply_async(_write_xz, (self.path, "".join(self.lines), self.preset)))
            self.lines = []

    def close(self) -> None:
        self._finish()
        for job in self.pending:
            job.get()
        self.pending = []


def _write_xz(path: Path, text: str, preset: int) -> None:
    with lzma.open(path, "wt", encoding="utf-8", preset=preset) as handle:
        handle.write(text)
