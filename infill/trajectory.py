"""The denoising trajectory: one ``Frame`` per sampler step (DESIGN section 6).

Frames are plain data so that the editor can animate them, ``--trajectory`` can write them as
JSON lines, and tests can compare them. A slot is one token position of a span.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import IO, Iterable

MASKED = "masked"    # still hidden
NEW = "new"          # committed at this step
KEPT = "kept"        # committed earlier
REMASKED = "remasked"  # was committed, hidden again (revision)

MASK_GLYPH = "\u2591"  # how a masked slot is drawn in text renderings


@dataclass(frozen=True)
class Slot:
    """One token position of a span at one step. ``text`` is "" while masked or for a null."""

    span: int          # index of the span in the caller's list
    text: str
    state: str
    confidence: float
    null: bool = False


@dataclass(frozen=True)
class Frame:
    """The state of every slot after one forward pass.

    ``round`` counts fill attempts (elastic length grows a budget and fills again);
    ``step`` counts forward passes within a round, from 1.
    """

    step: int
    slots: tuple[Slot, ...]
    round: int = 0
    elapsed: float = 0.0

    def span_text(self, span: int, mask_glyph: str = MASK_GLYPH) -> str:
        """The text of ``span`` as it stands: masked slots drawn as ``mask_glyph``."""
        return "".join(mask_glyph if s.state in (MASKED, REMASKED) else s.text
                       for s in self.slots if s.span == span)

    @property
    def masked(self) -> int:
        return sum(s.state in (MASKED, REMASKED) for s in self.slots)

    def to_json(self) -> dict:
        return asdict(self)


def write_jsonl(frames: Iterable[Frame], stream: IO[str]) -> None:
    for frame in frames:
        stream.write(json.dumps(frame.to_json(), ensure_ascii=False) + "\n")
