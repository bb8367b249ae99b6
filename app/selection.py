"""Growing a selection: to the enclosing syntax node, or to the enclosing line block.

Both keys are "press again to grow". The syntax tree is the one the TextArea already keeps
for highlighting (tree-sitter), so nothing is parsed here; these functions only walk it, or
the lines, and return ranges.
"""

from __future__ import annotations

from typing import Protocol


class Node(Protocol):  # the part of tree_sitter.Node used here
    start_byte: int
    end_byte: int
    start_point: tuple[int, int]
    end_point: tuple[int, int]

    @property
    def parent(self) -> "Node | None": ...

    def named_descendant_for_byte_range(self, start: int, end: int) -> "Node | None": ...


def grow_node(root: Node, start: int, end: int) -> Node | None:
    """The smallest named node holding the bytes ``[start, end)`` and larger than them.

    With an empty range (a cursor) the node under the cursor itself is returned.
    """
    node = root.named_descendant_for_byte_range(start, end)
    while node is not None:
        inside = node.start_byte <= start and end <= node.end_byte
        larger = (node.start_byte, node.end_byte) != (start, end)
        if inside and larger and node.end_byte > node.start_byte:
            return node
        node = node.parent
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _blank(line: str) -> bool:
    return not line.strip()


def grow_lines(lines: list[str], top: int, bottom: int, whole: bool) -> tuple[int, int]:
    """The next larger block of whole lines around lines ``top..bottom`` (inclusive).

    Order: the lines themselves (when the selection is not whole lines yet); the paragraph at
    their indentation; the indented block, blank lines included; the header line above it with
    its body; and again from there. Returns ``(top, bottom)`` unchanged at the whole text.
    """
    if not whole:
        return top, bottom
    current = (top, bottom)
    ind = min((_indent(lines[i]) for i in range(top, bottom + 1) if not _blank(lines[i])), default=0)
    while True:
        for candidate in (_expand(lines, top, bottom, ind, stop_at_blank=True),
                          _expand(lines, top, bottom, ind, stop_at_blank=False)):
            if candidate != current and candidate[0] <= top and candidate[1] >= bottom:
                return candidate
        header = next((i for i in range(top - 1, -1, -1)
                       if not _blank(lines[i]) and _indent(lines[i]) < ind), None)
        if header is None:
            whole_text = (0, len(lines) - 1)
            return whole_text if whole_text != current else current
        body_end = _expand(lines, header + 1, header + 1, _indent(lines[header]) + 1,
                           stop_at_blank=False)[1] if header + 1 < len(lines) else header
        candidate = (header, max(body_end, bottom))
        if candidate != current:
            return candidate
        top, bottom, ind = header, candidate[1], _indent(lines[header])


def _expand(lines: list[str], top: int, bottom: int, ind: int, stop_at_blank: bool) -> tuple[int, int]:
    def belongs(i: int) -> bool:
        if _blank(lines[i]):
            return not stop_at_blank
        return _indent(lines[i]) >= ind

    while top > 0 and belongs(top - 1):
        top -= 1
    while bottom + 1 < len(lines) and belongs(bottom + 1):
        bottom += 1
    while top < bottom and _blank(lines[top]):
        top += 1
    while bottom > top and _blank(lines[bottom]):
        bottom -= 1
    return top, bottom
