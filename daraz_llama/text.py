"""Text clean-up shared by the parser and the query side."""

from __future__ import annotations

import re
import unicodedata

# Zero-width marks, direction marks, word joiners, BOM and soft hyphen: invisible noise.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
# C0/C1 control characters except tab and newline.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def normalise_text(text: str) -> str:
    """Return ``text`` in NFC with invisible marks removed and control characters as spaces.

    Bangla and every other script are kept as they are.
    """
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    return _CONTROL.sub(" ", text)


def word_count(text: str) -> int:
    """Number of whitespace-separated words in ``text``."""
    return len(text.split())


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")  # links, images, emphasis, code, HTML, tables


def escape_markdown(text: str) -> str:
    """``text`` shown literally in Markdown: no links, images, emphasis or HTML from catalog or shopper text."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def one_line(text: str) -> str:
    """``text`` on one line with no ``|`` (the separators of the numbered product context)."""
    return " ".join(text.replace("|", "/").split())
