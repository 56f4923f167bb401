"""The agents' knowledge base: editor-owned Markdown articles under content/knowledge/, searched with SQLite FTS5."""
