"""Command-palette entries for the sampler settings (the other actions come from ``keys``)."""

from __future__ import annotations

from typing import Any, Iterator

from textual.app import SystemCommand

from .options import (CANDIDATE_CHOICES, RETRY_CHOICES, STEP_CHOICES, STRATEGIES, STRENGTH_CHOICES,
                      TEMPERATURE_CHOICES)


def _show(value: object) -> str:
    return "model default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def settings_commands(app: Any) -> Iterator[SystemCommand]:
    """One palette entry per value of each setting: "Sampler strategy: threshold", …"""
    fields = (
        ("strategy", "Sampler strategy", (None, *STRATEGIES)),
        ("steps", "Sampler steps", STEP_CHOICES),
        ("temperature", "Sampler temperature", TEMPERATURE_CHOICES),
        ("candidates", "Candidates (K)", CANDIDATE_CHOICES),
        ("retries", "Retries when a fill falls short", RETRY_CHOICES),
        ("strength", "Rewrite strength", STRENGTH_CHOICES),
    )
    yield SystemCommand("Sampler settings…", "strategy, steps, temperature, candidates (F4)",
                        app.action_settings)
    for name, title, choices in fields:
        for value in choices:
            def apply(name: str = name, value: object = value) -> None:
                app.set_options(app.options.with_(**{name: value}))

            current = " (current)" if getattr(app.options, name) == value else ""
            yield SystemCommand(f"{title}: {_show(value)}{current}", f"set {name}", apply)
