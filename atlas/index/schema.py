"""The tantivy schema: one document per file.

`FIELDS` is the single source of truth; `index_schema/fields.v1.json` is its published,
versioned copy and a test keeps the two equal.
"""

from __future__ import annotations

from typing import Any

import tantivy

SCHEMA_VERSION = 1

FIELDS: list[dict[str, Any]] = [
    {"name": "path", "type": "text", "tokenizer": "raw", "stored": True, "fast": False,
     "index_option": "basic", "doc": "repository-relative path, exact; used for lookups and deletes"},
    {"name": "fid", "type": "u64", "stored": True, "indexed": True, "fast": True,
     "doc": "stable file id; row of the side store's arrays"},
    {"name": "filename", "type": "text", "tokenizer": "whitespace", "stored": False, "fast": False,
     "index_option": "freq", "doc": "atlas.terms tokens and stems of the file name, then of its directories"},
    {"name": "symbols", "type": "text", "tokenizer": "whitespace", "stored": False, "fast": False,
     "index_option": "freq", "doc": "atlas.terms tokens and stems of every definition's name"},
    {"name": "content", "type": "text", "tokenizer": "whitespace", "stored": False, "fast": False,
     "index_option": "position", "doc": "atlas.terms tokens of the text, with positions for phrases"},
    {"name": "language", "type": "text", "tokenizer": "raw", "stored": True, "fast": False,
     "index_option": "basic", "doc": "lower-case language name"},
    {"name": "role", "type": "text", "tokenizer": "raw", "stored": True, "fast": False,
     "index_option": "basic", "doc": "impl, test, config, docs, generated, build or other"},
    {"name": "outline", "type": "bytes", "stored": True, "indexed": False, "fast": False,
     "doc": "orjson list of [name, kind, start_line, end_line] definitions"},
]  # fmt: skip

TEXT_QUERY_FIELDS = ("filename", "symbols", "content")


def build_schema() -> tantivy.Schema:
    """Return the tantivy schema described by `FIELDS`."""
    builder = tantivy.SchemaBuilder()
    for spec in FIELDS:
        if spec["type"] == "text":
            builder.add_text_field(
                spec["name"],
                stored=spec["stored"],
                tokenizer_name=spec["tokenizer"],
                index_option=spec["index_option"],
            )
        elif spec["type"] == "u64":
            builder.add_unsigned_field(
                spec["name"], stored=spec["stored"], indexed=spec["indexed"], fast=spec["fast"]
            )
        else:
            builder.add_bytes_field(spec["name"], stored=spec["stored"], indexed=spec["indexed"])
    return builder.build()
