"""Knowledge articles as editors write them: Markdown with a YAML front matter block.

The front matter carries what search and the desk need (id, title, intents, fault codes, tags) and
``summary``, the approved customer-facing text an agent may push in one click; the body is the
agent's script and process steps. ``answers`` names the assistant's intents (e.g. ``ask_how_to``)
the article answers by itself: the assistant then says the summary, with no agent involved.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.yaml_load import safe_load

FENCE = "---"


class ArticleError(ValueError):
    """An article file that cannot be used; the message names the file and the reason, ``line`` where it is."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    summary: str
    body: str
    intents: tuple[str, ...] = ()
    fault_codes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()  # intents the assistant answers with this article's summary


def _strings(meta: dict, key: str, source: str) -> tuple[str, ...]:
    value = meta.get(key) or []
    if not isinstance(value, list):
        raise ArticleError(f"{source}: '{key}' must be a list")
    return tuple(str(v).strip() for v in value if str(v).strip())


def parse_article(text: str, source: str) -> Article:
    lines = text.splitlines()
    if not lines or lines[0].strip() != FENCE:
        raise ArticleError(f"{source}: must start with a '---' front matter block")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == FENCE)
    except StopIteration:
        raise ArticleError(f"{source}: front matter is not closed with '---'") from None
    front = "\n".join(lines[1:end])
    try:
        meta = safe_load(front) or {}
    except yaml.YAMLError as exc:
        from bot.editor.yaml_lines import syntax_error

        line, message = syntax_error(exc, front)  # the front matter's first line is the file's second
        raise ArticleError(f"{source}: front matter is {message}", line + 1 if line else None) from exc
    if not isinstance(meta, dict):
        raise ArticleError(f"{source}: front matter must be a mapping")
    missing = [key for key in ("id", "title", "summary") if not str(meta.get(key) or "").strip()]
    if missing:
        raise ArticleError(f"{source}: the front matter has no {', '.join(missing)}: add "
                           f"{', '.join(f'`{key}: …`' for key in missing)} between the '---' lines")
    return Article(id=str(meta["id"]).strip(), title=str(meta["title"]).strip(),
                   summary=str(meta["summary"]).strip(), body="\n".join(lines[end + 1:]).strip(),
                   intents=_strings(meta, "intents", source), fault_codes=_strings(meta, "fault_codes", source),
                   tags=_strings(meta, "tags", source), answers=_strings(meta, "answers", source))


def article_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.md")) if folder.is_dir() else []


def read_article(path: Path) -> Article:
    """The article in ``path``; ArticleError also for a file saved in another encoding than UTF-8 (GBK)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # at its line, in `kefu validate`'s words
        from bot.editor.encoding_checks import utf8_mistake

        line, message = utf8_mistake(data)
        raise ArticleError(f"{path}:{line}: {message}", line) from exc
    return parse_article(text, str(path))


def load_articles(folder: Path) -> list[Article]:
    """Every article in the folder; raises ArticleError on the first bad file or a duplicate id."""
    articles: dict[str, Article] = {}
    for path in article_files(folder):
        article = read_article(path)
        if article.id in articles:
            raise ArticleError(f"{path}: duplicate article id '{article.id}'")
        articles[article.id] = article
    return list(articles.values())
