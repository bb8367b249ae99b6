"""Errors the user can act on.

The library raises; only ``infill.cli`` turns errors into messages and exit codes. Every
``InfillError`` renders as one line, ``FILE:LINE: reason`` when a place applies.
"""

from __future__ import annotations


class InfillError(Exception):
    """A problem with the input, the model or the environment (exit code 2)."""

    def __init__(self, reason: str, *, path: str | None = None, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path is not None and self.line is not None:
            return f"{self.path}:{self.line}: {self.reason}"
        if self.path is not None:
            return f"{self.path}: {self.reason}"
        return self.reason

    def at(self, path: str) -> "InfillError":
        """The same error with ``path`` filled in where it was missing."""
        if self.path is None:
            self.path = path
        return self


class InputError(InfillError):
    """A file or text the engine cannot work on: binary, bad encoding, bad markers."""


class StaleFileError(InputError):
    """The file changed on disk after it was read; nothing was written."""


class ModelError(InfillError):
    """Weights missing or unreadable, an unknown backend, out of device memory."""


class Cancelled(Exception):
    """A fill was cancelled by its caller (the editor's cancel key, Ctrl-C)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) arrived; the message says what was written before it (exit 130)."""
