"""The chat frame of an instruct checkpoint: a user turn asking for the file, then the
assistant's turn, rendered from the checkpoint's own ``chat_template`` and put before every
canvas. An instruct model was fine-tuned to write answers there (and to pad them with EOS,
which is its "nothing here"); a canvas without the frame is text it never saw at that place.

The template is data from the checkpoint: it is rendered in Jinja's sandbox, and its special
tokens are mapped to their ids (text between them is tokenized with special-token matching off).
"""

from __future__ import annotations

import re
from pathlib import Path

from infill.errors import ModelError

INSTRUCTION = ("Write out the following file in full, filling in the parts that are missing. "
               "Keep everything else exactly as it is.")


def is_instruct(path: Path, config: dict) -> bool:
    """An instruct (chat-tuned) checkpoint: its name says so (Hugging Face repo or folder)."""
    own = path.parent.parent.name if path.parent.name == "snapshots" else path.name  # HF cache
    names = " ".join([own, str(config.get("_name_or_path", ""))]).lower()
    return bool(re.search(r"instruct|[-_]it\b|chat|cpgrpo", names))


def render(template: str, tokenizer_config: dict, instruction: str = INSTRUCTION) -> str:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def token(name: str) -> str:
        value = tokenizer_config.get(name)
        return value.get("content", "") if isinstance(value, dict) else (value or "")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    try:
        return env.from_string(template).render(
            messages=[{"role": "user", "content": instruction}], add_generation_prompt=True,
            bos_token=token("bos_token"), eos_token=token("eos_token"), tools=None)
    except TemplateError as exc:
        raise ModelError(f"tokenizer_config.json: chat_template does not render ({exc})") from exc


def frame_ids(tokenizer, instruction: str = INSTRUCTION) -> list[int] | None:
    """Token ids of the rendered frame, or None when the tokenizer has no chat template."""
    template = tokenizer.config.get("chat_template")
    if isinstance(template, list):  # several named templates: the default one
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    if not isinstance(template, str) or not template:
        return None
    text = render(template, tokenizer.config, instruction)
    specials = sorted(tokenizer.specials, key=len, reverse=True)
    ids: list[int] = []
    backend = tokenizer.backend_tokenizer
    for piece in re.split("(" + "|".join(map(re.escape, specials)) + ")", text) if specials else [text]:
        if piece in tokenizer.specials:
            ids.append(tokenizer.specials[piece])
        elif piece:
            ids.extend(backend.encode(piece, add_special_tokens=False).ids)
    return ids
