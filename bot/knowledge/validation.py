"""`kefu validate` for the knowledge articles: each file parses, its front matter names only known fields,
ids are unique, intents exist in the domain. Each problem is named at its front-matter line."""
from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path

from bot.editor.problems import WARNING, Problem
from bot.knowledge.articles import FENCE, Article, ArticleError, article_files, read_article

FIELDS = tuple(field.name for field in dataclasses.fields(Article) if field.name != "body")
FIELD_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


def knowledge_problems(settings, domain) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in article_files(settings.content_dir / "knowledge"):
        lines = field_lines(path)
        problems += [Problem(str(path), line, unknown_field(field)) for field, line in lines.items() if field not in FIELDS]
        try:
            article = read_article(path)
        except ArticleError as exc:
            problems.append(Problem(str(path), exc.line or 1, str(exc).removeprefix(f"{path}:{exc.line}: ").removeprefix(f"{path}: ")))
            continue
        if article.id in seen:
            problems.append(Problem(str(path), lines.get("id"), f"article id '{article.id}' is used by {seen[article.id]} too"))
        seen.setdefault(article.id, path.name)
        for intent in article.intents:
            if intent not in domain.intents:
                problems.append(Problem(str(path), lines.get("intents"), f"intent '{intent}' is not in the domain; the "
                                        "article is never suggested for it", WARNING))
        for intent in article.answers:
            if intent not in domain.intents:
                problems.append(Problem(str(path), lines.get("answers"), f"answers: intent '{intent}' is not in the "
                                        "domain; the assistant never answers with this article"))
    return problems


def unknown_field(field: str) -> str:
    close = difflib.get_close_matches(field, FIELDS, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"the fields are {', '.join(FIELDS)}"
    return f"unknown front-matter field '{field}' is ignored: {hint}"


def field_lines(path: Path) -> dict[str, int]:
    """Each top-level field of the front matter, by the line it is written on (nothing when unreadable)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    if not lines or lines[0].strip() != FENCE:
        return {}
    found: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == FENCE:
            break
        if (field := FIELD_LINE.match(line)) is not None:
            found.setdefault(field.group(1), number)
    return found
