"""Keeps ad-hoc SQL read-only unless the user asks for writes (`lakehouse sql --write`)."""

from __future__ import annotations

import re

READ_ONLY_KEYWORDS = frozenset({"select", "with", "show", "describe", "desc", "explain", "values", "table", "from"})
# Inside WITH ... / FROM ... a statement can still write (Hive-style multi-insert, CTE + INSERT).
_WRITE_WORDS = re.compile(
    r"\b(insert|merge|update|delete|create|drop|alter|truncate|call|overwrite|cache)\b",
    re.IGNORECASE,
)
_STRING_OR_COMMENT = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|/\*.*?\*/", re.DOTALL)


def split_statements(sql: str) -> list[str]:
    """Split on semicolons that are outside strings, identifiers and comments."""
    statements, start, pos = [], 0, 0
    while pos < len(sql):
        match = _STRING_OR_COMMENT.match(sql, pos)
        if match:
            pos = match.end()
            continue
        if sql[pos] == ";":
            statements.append(sql[start:pos])
            start = pos + 1
        pos += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _strip(s).strip()]


def _strip(statement: str) -> str:
    """The statement with string literals, quoted identifiers and comments blanked out."""
    return _STRING_OR_COMMENT.sub(" ", statement)


def is_read_only(statement: str) -> bool:
    """True if ``statement`` only reads: a query, SHOW, DESCRIBE or EXPLAIN."""
    code = _strip(statement).strip().lstrip("(").strip()
    words = code.split(None, 1)
    if not words or words[0].lower() not in READ_ONLY_KEYWORDS:
        return False
    if words[0].lower() in {"with", "from", "explain"}:
        return _WRITE_WORDS.search(code) is None
    return True


def first_keyword(statement: str) -> str:
    """The statement's leading keyword, upper-cased (for messages)."""
    words = _strip(statement).strip().split(None, 1)
    return words[0].upper() if words else ""
