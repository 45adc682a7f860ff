"""How catalogue text (category names, titles, slice names) is shown in the report and its plots.

The text comes from your catalogue, so it may hold anything: markup, ``$`` signs, thousands of
characters, right-to-left scripts and invisible control characters. The HTML template escapes
markup (autoescape); this module handles what escaping does not:

* Invisible bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) and
  other control characters are shown as ``[U+202E]``: an override would otherwise reverse the
  rest of a line (the verdict's numbers), so what a reader sees would not be what the data says.
  Right-to-left letters themselves are kept (they are text, and the browser orders them).
* Plot labels are cut to :data:`LABEL_CHARS` characters with an ellipsis (a label of thousands of
  characters squeezes the axes to nothing), and ``$`` is escaped so matplotlib never reads a
  label as math. The page's tables keep the full text and wrap it.
"""

from __future__ import annotations

import unicodedata

#: Longest plot label; longer text is cut with an ellipsis (the tables show all of it).
LABEL_CHARS = 40


#: Where control (Cc) and format (Cf) characters live: C0, DEL and C1, then the format blocks
#: (Arabic number signs, Mongolian vowel separator, zero-width and bidi marks, invisible
#: operators, BOM, interlinear annotation, Khmer and tag characters).
_CONTROL_RANGES = (
    (0x0000, 0x009F),
    (0x00AD, 0x00AD),
    (0x0600, 0x070F),
    (0x0890, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE007F),
)


def _control_table() -> dict[int, str]:
    """Every control (Cc) and format (Cf) character -> ``[U+XXXX]``, for :meth:`str.translate`.

    Kept: tab and line feed (layout), and the zero-width joiner, which builds emoji and Indic
    letters (text, not control).
    """
    kept = {ord("\t"), ord("\n"), 0x200D}
    return {
        code: f"[U+{code:04X}]"
        for low, high in _CONTROL_RANGES
        for code in range(low, high + 1)
        if code not in kept and unicodedata.category(chr(code)) in ("Cc", "Cf")
    }


_CONTROLS = _control_table()


def visible_controls(text: str) -> str:
    """``text`` with control and format characters (bidi overrides, NUL) shown as ``[U+..]``."""
    return text.translate(_CONTROLS)


def plot_label(value: object, limit: int = LABEL_CHARS) -> str:
    """``value`` as a plot label: controls visible, at most ``limit`` characters, ``$`` escaped."""
    text = visible_controls(str(value))
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")
