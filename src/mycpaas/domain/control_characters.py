"""The characters that act instead of showing: C0 and C1 controls (an escape sequence repaints a terminal), the
line and paragraph separators, and the bidirectional marks, embeddings, overrides and isolates (which reorder
the text around them: "evil\u202e@example.com" reads otherwise than it is).

One set for the two places that must not let them through: an email address is refused if it holds one
(domain/users.py), and the CLI writes each one as its escape in text output (cli/common.printable).
"""

from __future__ import annotations

# The body of a regex character class, in re's own escapes: `[{ACTING}]` matches one of them.
ACTING = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
