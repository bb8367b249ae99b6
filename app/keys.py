"""Every key of the editor in one table: the app's BINDINGS, the help screen, the command
palette and docs/EDITOR.md all come from here, so they cannot disagree.

Keys avoid the TextArea's own editing keys (ctrl+a/e/k/u/w/d/x/c/v/z/y, f6, f7) in the editing
state. Review keys are *priority* bindings that only apply while a result is under review
(``EditorApp.check_action``), so there ``enter``, the arrows or ``ctrl+e`` mean accept, replay
or regenerate, and in the editor they keep their usual meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

EDIT, FILLING, REVIEW = "edit", "filling", "review"
ANY = "any"
EDITOR, DIFF = "editor", "diff"  # modes: ``infill edit``, ``infill diff``


@dataclass(frozen=True)
class Key:
    keys: str          # Textual key names, comma-separated
    action: str
    title: str         # command palette title and help text
    footer: str = ""   # short label in the key bar; "" leaves it out there
    state: str = EDIT  # the state the key works in
    group: str = "Spans"
    mode: str = ""     # "" in every mode; DIFF: only in diff mode


KEYS: tuple[Key, ...] = (
    Key("ctrl+f", "mark_hole", "Mark a hole: the selection, or the cursor position", "hole"),
    Key("ctrl+r", "mark_rewrite", "Mark a rewrite: the selection, or the cursor's line", "rewrite"),
    Key("ctrl+n", "select_node", "Select the syntax node at the cursor; again: its parent"),
    Key("ctrl+l", "select_block", "Select the line; again: the paragraph, the block, its header"),
    Key("ctrl+t", "remove_span", "Remove the span at the cursor"),
    Key("f3", "next_span", "Go to the next span"),
    Key("shift+f3", "previous_span", "Go to the previous span"),
    Key("f2", "toggle_spans", "List the spans (enter: go to, delete: remove, + -: strength)",
        state=ANY),
    Key("ctrl+o", "mark_hunk", "Mark the hunk at the cursor as one rewrite", "hunk",
        group="Diff", mode=DIFF),
    Key("f5", "mark_added", "Mark the added lines (the run at the cursor, the "
        "selected ones, or every run of the hunk)", "lines", group="Diff", mode=DIFF),
    Key("f8", "next_hunk", "Go to the next hunk", group="Diff", mode=DIFF),
    Key("shift+f8", "previous_hunk", "Go to the previous hunk", group="Diff", mode=DIFF),
    Key("f9", "focus_files", "The file list (enter opens a file or hunk); again: back",
        group="Diff", mode=DIFF),
    Key("ctrl+g", "generate", "Generate: fill every span with the model", "generate",
        group="Generate"),
    Key("escape", "cancel", "Cancel the fill that is running", "cancel", FILLING, "Generate"),
    Key("enter", "accept", "Accept the fill (one undoable edit)", "accept", REVIEW, "Review"),
    Key("escape,ctrl+j", "reject", "Reject the fill; the spans stay marked", "reject", REVIEW,
        "Review"),
    Key("ctrl+e", "regenerate", "Generate again with a new seed", "new seed", REVIEW, "Review"),
    Key("ctrl+k,tab", "next_candidate", "Show the next candidate", "next", REVIEW, "Review"),
    Key("left", "replay_back", "Replay: one step back", "step", REVIEW, "Review"),
    Key("right", "replay_forward", "Replay: one step forward", "", REVIEW, "Review"),
    Key("space", "replay_play", "Replay the denoising from the first step", "replay", REVIEW,
        "Review"),
    Key("ctrl+s", "save", "Save (refuses to overwrite a file changed on disk)", "save",
        ANY, "File"),
    Key("f4", "settings", "Sampler settings: strategy, steps, temperature, candidates", "",
        ANY, "File"),
    Key("f1", "help", "Show the keys", "help", ANY, "File"),
    Key("ctrl+q", "quit", "Quit (asks when there are unsaved changes)", "quit", ANY, "File"),
)

# The TextArea's own keys, for the help screen (not bound here).
EDITING_KEYS: tuple[tuple[str, str], ...] = (
    ("arrows, pgup/dn", "move the cursor (home / end: line start / end)"),
    ("shift+arrows", "select"),
    ("f6 / f7", "select the line / everything"),
    ("ctrl+z / ctrl+y", "undo / redo (across fills too)"),
    ("ctrl+x/c/v", "cut / copy / paste"),
    ("ctrl+p", "command palette: every action and setting"),
)


def keys_for(mode: str = EDITOR) -> tuple[Key, ...]:
    """The keys that work in ``mode``."""
    return tuple(key for key in KEYS if key.mode in ("", mode))


def bindings(mode: str = "") -> list[Binding]:
    """BINDINGS for the keys of every mode (``""``) or of one mode only (``DIFF``): review
    and cancel keys take priority over the focused view."""
    return [
        Binding(key.keys, key.action, key.footer or key.title, show=False,
                priority=key.state in (REVIEW, FILLING))
        for key in KEYS if key.mode == mode
    ]


def display(keys: str) -> str:
    """``ctrl+f,f2`` -> ``ctrl+f / f2`` for people."""
    return " / ".join(keys.split(","))
