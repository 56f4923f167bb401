"""`kefu validate` for the knowledge articles: each file parses, ids are unique, intents exist in the domain."""
from __future__ import annotations

from bot.editor.problems import WARNING, Problem
from bot.knowledge.articles import ArticleError, article_files, read_article


def knowledge_problems(settings, domain) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in article_files(settings.content_dir / "knowledge"):
        try:
            article = read_article(path)
        except ArticleError as exc:
            problems.append(Problem(str(path), 1, str(exc).removeprefix(f"{path}: ")))
            continue
        if article.id in seen:
            problems.append(Problem(str(path), None, f"article id '{article.id}' is used by {seen[article.id]} too"))
        seen.setdefault(article.id, path.name)
        for intent in article.intents:
            if intent not in domain.intents:
                problems.append(Problem(str(path), None, f"intent '{intent}' is not in the domain; the article is "
                                                         "never suggested for it", WARNING))
        for intent in article.answers:
            if intent not in domain.intents:
                problems.append(Problem(str(path), None, f"answers: intent '{intent}' is not in the domain; the "
                                                         "assistant never answers with this article"))
    return problems
