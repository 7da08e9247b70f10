"""Which characters the relay refuses to forward to the vendor (issue 9: NUL, BEL, U+202E …).

One rule for every input (API bodies, manifests, outbox metadata), so the same text is refused the
same way whichever door it came in by:

- **message text** (messages, captions): no C0 control characters except tab, newline and carriage
  return; no DEL; no C1 controls (U+0080–U+009F); no bidirectional overrides or isolates
  (U+202A–U+202E, U+2066–U+2069), which can make a message read differently from what was sent
  ("Trojan Source"). The bidi *marks* (U+200E/U+200F/U+061C) stay allowed: right-to-left text needs
  them.
- **identifiers** (references, numbers, file names, S3 keys, media names): none of the above, and
  no tab, newline or carriage return either.

`text_problem` answers why a value is refused (naming the character by its code point, never echoing
it), or None when it may be sent.
"""

from __future__ import annotations

import re

#: allowed in message text, refused in identifiers
LAYOUT = "\t\n\r"
#: bidirectional embeddings/overrides (LRE, RLE, PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI)
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

_IDENTIFIER = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
_MESSAGE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def _name(char: str) -> str:
    if char in BIDI_CONTROLS:
        return f"a bidirectional control character (U+{ord(char):04X})"
    return f"a control character (U+{ord(char):04X})"


def text_problem(value: str, *, layout: bool) -> str | None:
    """Why `value` may not be sent, or None. `layout=True` for message text (tab/newlines allowed)."""
    found = (_MESSAGE if layout else _IDENTIFIER).search(value)
    if found is None:
        return None
    return f"contains {_name(found.group())} at position {found.start()}"


def check_message(value: str) -> str:
    """A pydantic-style check for message text: the value, or ValueError saying why not."""
    problem = text_problem(value, layout=True)
    if problem:
        raise ValueError(problem)
    return value


def check_identifier(value: str) -> str:
    """A pydantic-style check for references, numbers, names and keys."""
    problem = text_problem(value, layout=False)
    if problem:
        raise ValueError(problem)
    return value
