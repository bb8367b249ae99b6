"""A question with a few answers (file changed on disk, unsaved changes on quit)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ChoiceScreen(ModalScreen[str]):
    """Dismisses with the id of the chosen answer; escape gives ``"cancel"``."""

    BINDINGS = [Binding("escape", "choose('cancel')", "Cancel", priority=True),
                Binding("left", "app.focus_previous", show=False),
                Binding("right", "app.focus_next", show=False)]

    def __init__(self, question: str, answers: list[tuple[str, str]], title: str = "") -> None:
        """``answers``: (id, label) pairs; the first is the default button."""
        super().__init__()
        self.question = question
        self.answers = answers
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box") as box:
            box.border_title = self.title_text
            yield Static(self.question, id="choice-question")
            with Horizontal(id="choice-buttons"):
                for i, (answer, label) in enumerate(self.answers):
                    yield Button(label, id=f"choice-{answer}",
                                 variant="primary" if i == 0 else "default")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id.removeprefix("choice-"))

    def action_choose(self, answer: str) -> None:
        self.dismiss(answer)
