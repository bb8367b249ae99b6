"""Plain-JSON forms of what crosses a process boundary: spans, options, fill results.

The fill socket (``usersock.py``) and the Ray workers (``infill.distributed``) send fills as
JSON-ready dicts and decode them into the engine's own result types (``infill.fills``, pure:
no torch), so a client that fills through a warm server stays a cheap process and gets the
very objects a local ``Filler`` returns.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from infill.fills import Candidate, FillResult, SpanFill
from infill.markers import Span
from infill.trajectory import Frame, Slot


def options_to_json(options: Any) -> dict[str, Any]:
    """A ``FillOptions`` as JSON (its fields are plain numbers and strings)."""
    return asdict(options)


def options_from_json(data: dict[str, Any] | None) -> Any:
    from infill.options import FillOptions

    known = {f.name for f in fields(FillOptions)}
    return FillOptions(**{k: v for k, v in (data or {}).items() if k in known})


def span_to_json(span: Span) -> dict[str, Any]:
    return asdict(span)


def span_from_json(data: dict[str, Any]) -> Span:
    known = {f.name for f in fields(Span)}
    return Span(**{k: v for k, v in data.items() if k in known})


def result_to_json(result: Any, trajectory: bool = True) -> dict[str, Any]:
    """A fill result (the engine's or a decoded one) as a dict of JSON values."""
    return {
        "text": result.text,
        "spans": [_fill_json(s) for s in result.spans],
        "candidates": [{"text": c.text, "spans": [_fill_json(s) for s in c.spans],
                        "score": c.score, "parse_errors": c.parse_errors}
                       for c in result.candidates],
        "trajectory": [frame_to_json(f) for f in result.trajectory] if trajectory else [],
        "score": result.score,
        "parse_errors": result.parse_errors,
        "forward_passes": result.forward_passes,
        "elapsed": result.elapsed,
        "language": result.language,
    }


def result_from_json(data: dict[str, Any]) -> FillResult:
    return FillResult(
        text=data["text"],
        spans=tuple(SpanFill(**s) for s in data["spans"]),
        candidates=tuple(Candidate(c["text"], tuple(SpanFill(**s) for s in c["spans"]),
                                   c["score"], c["parse_errors"]) for c in data["candidates"]),
        trajectory=tuple(frame_from_json(f) for f in data["trajectory"]),
        score=data["score"], parse_errors=data["parse_errors"],
        forward_passes=data["forward_passes"], elapsed=data["elapsed"],
        language=data["language"],
    )


def frame_to_json(frame: Frame) -> dict[str, Any]:
    return frame.to_json()


def frame_from_json(data: dict[str, Any]) -> Frame:
    slots = tuple(Slot(**s) for s in data["slots"])
    return Frame(step=data["step"], slots=slots, round=data.get("round", 0),
                 elapsed=data.get("elapsed", 0.0))


def _fill_json(span: Any) -> dict[str, Any]:
    return {"text": span.text, "confidence": span.confidence, "start": span.start,
            "end": span.end, "kind": span.kind, "line": span.line, "tokens": span.tokens}
