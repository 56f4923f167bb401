"""A SQLite FTS5 index of the knowledge articles, rebuilt when the article files change.

FTS5's ``unicode61`` tokenizer cannot split Chinese into words, so each text is segmented with
jieba (search mode) and stored as space-separated tokens; FTS5 then does the matching and ranks
with its own ``bm25()``. The index lives in the data directory, so every process shares it; a
fingerprint of the article files (their names and contents) decides when to rebuild. A bad edit keeps
the last good index and is logged with the file and the reason.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import jieba

from bot import file_change
from bot.knowledge.articles import Article, ArticleError, article_files, load_articles
from bot.security.private_files import private_dir

logger = logging.getLogger(__name__)

# bm25 column weights, in the table's column order: a match in the title or the fault codes says
# more than one somewhere in the body.
# ``answers`` (the intents the assistant answers with the article) only filters, it never ranks.
WEIGHTS = {"title": 6.0, "tags": 4.0, "intents": 3.0, "fault_codes": 8.0, "summary": 1.5, "body": 1.0,
           "answers": 0.0}
COLUMNS = tuple(WEIGHTS)
# A customer's question is matched against what the customer would see, not the agent's script.
ANSWER_COLUMNS = ("title", "tags", "summary")
WORD = re.compile(r"\w", re.UNICODE)

_segmenter = None
_segmenter_lock = threading.Lock()


def segmenter() -> jieba.Tokenizer:
    """A jieba instance of our own, so added words never change the NLU pipeline's jieba."""
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _segmenter = tokenizer
        return _segmenter


def tokens(text: str) -> list[str]:
    return [t.strip().lower() for t in segmenter().lcut_for_search(text or "") if WORD.search(t)]


def segmented(text: str) -> str:
    return " ".join(tokens(text))


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    summary: str
    body: str
    tags: tuple[str, ...]
    score: float  # bm25: lower is better


_seen: dict[Path, file_change.Seen] = {}  # each article file as this process last looked at it


def fingerprint(folder: Path) -> str:
    """The article files' names and contents, hashed: a file is read only when its stat cannot vouch for
    it (bot/file_change.py), and every process computes the same value for the same articles."""
    digest = hashlib.sha256()
    for path in article_files(folder):
        seen, _ = file_change.look(path, _seen.get(path))
        _seen[path] = seen
        digest.update(path.name.encode() + b"\0" + (seen.digest or b"") + b"\n")
    return digest.hexdigest()


def fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class KnowledgeIndex:
    def __init__(self, folder: Path, database: Path) -> None:
        self.folder = folder
        self.database = database

    def _connect(self) -> sqlite3.Connection:
        private_dir(self.database.parent)  # the data folder: owner-only when Kefu makes it
        connection = sqlite3.connect(self.database, timeout=30, isolation_level=None)
        connection.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        columns = [row[1] for row in connection.execute("PRAGMA table_info(articles)")]
        if columns and columns != ["id", *COLUMNS, "raw"]:  # built by an older Kefu: build it again
            connection.execute("DROP TABLE articles")
            connection.execute("DELETE FROM meta")
        connection.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS articles USING fts5("
                           f"id UNINDEXED, {', '.join(COLUMNS)}, raw UNINDEXED, tokenize='unicode61')")
        return connection

    @staticmethod
    def _meta(connection: sqlite3.Connection, key: str) -> str | None:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def refresh(self, connection: sqlite3.Connection | None = None) -> bool:
        """Rebuild if the files changed since the last build (or last rejected edit); True if rebuilt."""
        own = connection is None
        connection = connection or self._connect()
        try:
            current = fingerprint(self.folder)
            if current in (self._meta(connection, "fingerprint"), self._meta(connection, "rejected")):
                return False
            connection.execute("BEGIN IMMEDIATE")  # one process rebuilds; the others wait, then see it done
            try:
                if current in (self._meta(connection, "fingerprint"), self._meta(connection, "rejected")):
                    connection.execute("COMMIT")
                    return False
                try:
                    articles = load_articles(self.folder)
                except ArticleError as exc:
                    built = self._meta(connection, "fingerprint") is not None
                    logger.error("knowledge.rejected reason=%s kept_last_good=%s", exc, built)
                    connection.execute("INSERT OR REPLACE INTO meta VALUES ('rejected', ?)", (current,))
                    connection.execute("COMMIT")
                    return False
                self._write(connection, articles)
                connection.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (current,))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            logger.info("knowledge.indexed articles=%d", len(articles))
            return True
        finally:
            if own:
                connection.close()

    @staticmethod
    def _write(connection: sqlite3.Connection, articles: list[Article]) -> None:


        connection.execute("DELETE FROM articles")
        for a in articles:
            raw = json.dumps({"id": a.id, "title": a.title, "summary": a.summary, "body": a.body,
                              "tags": list(a.tags)}, ensure_ascii=False)
            connection.execute(
                "INSERT INTO articles (id, title, tags, intents, fault_codes, summary, body, answers, raw) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (a.id, segmented(a.title), segmented(" ".join(a.tags)), " ".join(a.intents),
                 " ".join(code.lower() for code in a.fault_codes), segmented(a.summary), segmented(a.body),
                 " ".join(a.answers), raw))

    def search(self, text: str = "", *, intents: tuple[str, ...] = (), fault_code: str | None = None,
               limit: int = 5) -> list[Hit]:
        """Articles for the agent's words or, when there are none, the conversation's intent and fault code."""
        terms = [fts_phrase(t) for t in dict.fromkeys(tokens(text))]
        if not terms:
            terms = [f"intents : {fts_phrase(i)}" for i in intents if i]
            if fault_code:
                terms.append(f"fault_codes : {fts_phrase(fault_code.lower())}")
        if not terms:
            return []
        return self._query(" OR ".join(terms), limit)

    def answer(self, question: str, intent: str, fillers: Collection[str] = ()) -> Hit | None:
        """The article that answers the customer's ``question`` for ``intent`` (front matter ``answers``), if any.
        Words in ``fillers`` (``question_filler_words`` in content/labels.yml) rank nothing: "对了营业厅在哪" got
        the password article, whose summary has more 在 and 对 than the opening hours' has (found trying the chat)."""
        ignored = {word.lower() for word in fillers}
        terms = [fts_phrase(t) for t in dict.fromkeys(tokens(question)) if t not in ignored]
        if not terms or not intent:
            return None
        query = (f"answers : {fts_phrase(intent)} AND "
                 f"{{{' '.join(ANSWER_COLUMNS)}}} : ({' OR '.join(terms)})")
        hits = self._query(query, 1)
        return hits[0] if hits else None

    def _query(self, match: str, limit: int) -> list[Hit]:
        connection = self._connect()
        try:
            self.refresh(connection)
            weights = ", ".join(str(w) for w in WEIGHTS.values())
            rows = connection.execute(
                f"SELECT raw, bm25(articles, 0.0, {weights}, 0.0) AS score FROM articles "
                f"WHERE articles MATCH ? ORDER BY score LIMIT ?", (match, limit)).fetchall()
        finally:
            connection.close()
        return [hit_from(raw, score) for raw, score in rows]

    def article(self, article_id: str) -> Hit | None:
        connection = self._connect()
        try:
            self.refresh(connection)
            row = connection.execute("SELECT raw FROM articles WHERE id = ?", (article_id,)).fetchone()
        finally:
            connection.close()
        return hit_from(row[0], 0.0) if row else None


def hit_from(raw: str, score: float) -> Hit:
    data = json.loads(raw)
    return Hit(id=data["id"], title=data["title"], summary=data["summary"], body=data["body"],
               tags=tuple(data["tags"]), score=round(score, 4))


def index_for(settings) -> KnowledgeIndex:
    return KnowledgeIndex(settings.content_dir / "knowledge", settings.data_dir / "knowledge.sqlite3")
