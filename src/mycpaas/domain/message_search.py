"""What the message log's search box asks for: one message by its SID, or messages whose From, To or body
contains every word given (any case, anywhere: a fragment of a number or of a word).

Words are matched as substrings through a trigram index on both databases (SQLite's FTS5 trigram tokenizer,
PostgreSQL's pg_trgm), which can only look up a word of three characters or more: a shorter one would mean
reading every message, so it is refused with a message saying why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_WORD = 3
MAX_WORDS = 8
MAX_LENGTH = 200
_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")


class BadSearch(ValueError):
    """The search text cannot be looked up; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Search:
    sid: str | None = None
    words: tuple[str, ...] = ()


def parse_search(text: str) -> Search:
    """The search the box's text asks for; an empty text is no search."""
    text = text.strip()
    if len(text) > MAX_LENGTH:
        raise BadSearch(f"Search for at most {MAX_LENGTH} characters.")
    if _SID.fullmatch(text):
        return Search(sid=text)
    words = tuple(dict.fromkeys(text.split()))
    if len(words) > MAX_WORDS:
        raise BadSearch(f"Search for at most {MAX_WORDS} words.")
    if any(len(word) < MIN_WORD for word in words):
        raise BadSearch(
            f"Each search word needs at least {MIN_WORD} characters (a number's digits, a word's letters)."
        )
    return Search(words=words)
