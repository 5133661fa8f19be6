"""Check a question before any backend sees it: bad input gets a clear status and message.

Rule: text we cannot process at all (empty, too long, control characters) is an `error` (exit
1, like a usage error); well-formed text we will not answer (SQL pasted as a question, another
language) is `unanswerable` (exit 2) with a pointer to what works instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from agent.answer import Status

MAX_QUESTION_CHARS = 2_000  # far above any real question; bounds parser and LLM prompt cost
EXAMPLES = [
    "weekly sales of Etorki in 2024",
    "top 5 products by sales last 12 weeks",
    "forecast for the next 3 weeks by brand",
]
# Unicode format characters that reorder or hide text (Trojan Source); a zero-width joiner is
# fine (emoji, Indic scripts) and is not listed.
_HIDDEN = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
# Statement shapes, not keywords alone: "Select the top 5 products from ETORKI" is a question.
_SQL_TEMPLATE = r"""^\s*\(*\s*(
        select\s+(\*|distinct\b|\d+\s*;?\s*$|\w+\s*\()
      | select\b.+\bfrom\s+(\(|[\w"`]+\.[\w"`]+|{tables})\b
      | with\s+\w+\s+as\s*\(
      | insert\s+into\b | update\s+[\w."`]+\s+set\b | delete\s+from\b
      | (drop|create|alter|truncate)\s+(or\s+replace\s+)?(table|view|schema|database|index|
          secret|macro|function|sequence|type)\b
      | (pragma|attach|detach|copy|install|load|call|export|import)\s+\S
    )"""
# Function words: English ones mark an English question; the others, with none of the English,
# mark another language. Product and brand names ("Caprice des Dieux") hold a few of the latter,
# hence two of them and no English word before we say so.
_ENGLISH = frozenset(
    re.findall(
        r"\S+",
        "the of for and or what which who how many much show give list plot chart draw compare "
        "is are was were me my our by per in on at to from with vs versus top bottom best worst "
        "last next this sales sale forecast forecasts prediction predicted total average sum "
        "week weeks weekly month months monthly year years quarter product products brand brands "
        "model models series please",
    )
)
_FOREIGN = frozenset(
    re.findall(
        r"\S+",
        "les des du est pour avec dans une quelles quels quelle quel ventes montre montrez moi "
        "combien prévision prévisions semaine semaines und der die das ist für mit verkäufe wie "
        "viele zeige zeigen umsatz woche los las por para qué cuál cuáles ventas muestra cuántos "
        "semana della delle vendite quali quanto mostra settimana vendas quais mostrar",
    )
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class InputProblem:
    """Why a question is not passed on, as the answer's status and one-line message."""

    status: Status
    message: str
    suggestions: tuple[str, ...] = ()


def normalise_question(text: str) -> str:
    """Tabs and line breaks (a pasted paragraph) become single spaces."""
    return " ".join(text.split())


def check_question(text: str, tables: Iterable[str] = ()) -> InputProblem | None:
    """The first problem with the raw question, or None when a backend may have it."""
    stripped = text.strip()
    if not stripped:
        return InputProblem("error", "empty question: ask something like " + repr(EXAMPLES[0]))
    if len(stripped) > MAX_QUESTION_CHARS:
        return InputProblem(
            "error",
            f"question too long: {len(stripped):,} characters, at most {MAX_QUESTION_CHARS:,}",
        )
    for position, char in enumerate(stripped):
        if (unicodedata.category(char) == "Cc" and char not in "\t\n\r") or char in _HIDDEN:
            return InputProblem(
                "error",
                f"question contains a control character (U+{ord(char):04X} at position "
                f"{position + 1}): type it as plain text",
            )
    if _sql_pattern(tuple(sorted(tables))).match(stripped):
        return InputProblem(
            "unanswerable",
            'this is SQL, not a question: run it with `salesgenie sql "…"` (or /sql in chat), '
            "where the guard checks it",
        )
    if _other_language(stripped):
        return InputProblem(
            "unanswerable",
            "questions are understood in English only: please ask in English",
            tuple(EXAMPLES),
        )
    return None


@lru_cache(maxsize=4)
def _sql_pattern(tables: tuple[str, ...]) -> re.Pattern[str]:
    """The statement shapes, with the semantic layer's table names as FROM targets."""
    names = "|".join(re.escape(t) for t in tables) or r"(?!x)x"
    flags = re.IGNORECASE | re.DOTALL | re.VERBOSE
    return re.compile(_SQL_TEMPLATE.replace("{tables}", names), flags)


def _other_language(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    non_latin = sum(1 for c in letters if not unicodedata.name(c, "").startswith("LATIN"))
    if non_latin * 2 > len(letters):
        return True
    words = [w.lower() for w in _WORD.findall(text)]
    foreign = sum(1 for w in words if w in _FOREIGN)
    return foreign >= 2 and not any(w in _ENGLISH for w in words)
