"""Persisted documents: Apollo's automatic persisted queries, and trusted documents.

APQ: a client sends only `extensions.persistedQuery.sha256Hash`; an unknown hash
answers PERSISTED_QUERY_NOT_FOUND and the client retries with the document,
which is stored under its hash once the hash is verified.

Trusted documents: a manifest (a JSON object mapping hash to document, as
graphql-codegen's persisted-documents output writes it) loaded at start.
Its documents are parsed and validated once, then pinned; with
TRUSTED_DOCUMENTS_ONLY the server runs nothing else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLSchema, parse, validate

from graphql_api.kv import KeyValueStore
from graphql_api.observability import metrics

HASH = re.compile(r"[0-9a-f]{64}")
APQ_PREFIX = "apq:"


class PersistedQueryError(Exception):
    """A persisted-query request the server cannot answer (code and HTTP status)."""

    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class PinnedDocuments:
    """Documents parsed and validated once (the trusted ones), by their text."""

    documents: dict[str, DocumentNode] = field(default_factory=dict)
    valid: set[int] = field(default_factory=set)

    def pin(self, text: str, document: DocumentNode) -> None:
        self.documents[text] = document
        self.valid.add(id(document))

    def is_validated(self, document: DocumentNode | None) -> bool:
        return document is not None and id(document) in self.valid


@dataclass
class TrustedDocuments:
    by_hash: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, schema: GraphQLSchema, pinned: PinnedDocuments) -> TrustedDocuments:
        """Read, check and pin a manifest; a wrong hash or an invalid document stops start-up."""
        manifest = orjson.loads(path.read_bytes())
        if not isinstance(manifest, dict):
            raise ValueError(f"{path}: a trusted-documents manifest is a JSON object")
        documents: dict[str, str] = {}
        for raw_key, text in manifest.items():
            key = str(raw_key).removeprefix("sha256:")
            if not isinstance(text, str) or sha256(text) != key:
                raise ValueError(f"{path}: the document under {raw_key} does not hash to it")
            document = parse(text)
            if errors := validate(schema, document):
                raise ValueError(f"{path}: document {key} is not valid: {errors[0].message}")
            documents[key] = text
            pinned.pin(text, document)
        return cls(documents)

    def get(self, digest: str) -> str | None:
        return self.by_hash.get(digest)

    def trusts(self, text: str) -> bool:
        return sha256(text) in self.by_hash


class PersistedQueries:
    def __init__(self, store: KeyValueStore, trusted: TrustedDocuments, ttl_seconds: int) -> None:
        self._store = store
        self.trusted = trusted
        self._ttl = ttl_seconds

    async def document_for(
        self, query: str | None, extensions: Mapping[str, Any] | None
    ) -> str | None:
        """The document to run: `query` itself, or the one its persisted-query hash names."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if (
            not isinstance(persisted, dict)
            or persisted.get("version") != 1
            or not isinstance(persisted.get("sha256Hash"), str)
            or not HASH.fullmatch(persisted["sha256Hash"])
        ):
            raise PersistedQueryError(
                "BAD_REQUEST", "`persistedQuery` must be {version: 1, sha256Hash: <64 hex>}.", 400
            )
        digest = persisted["sha256Hash"]
        if query is None:
            found = self.trusted.get(digest) or await self._store.fetch(APQ_PREFIX + digest)
            metrics.hit("persisted_queries", found is not None)
            if found is None:
                raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
            return found
        if sha256(query) != digest:
            raise PersistedQueryError(
                "BAD_REQUEST", "`persistedQuery.sha256Hash` does not match the query.", 400
            )
        if not self.trusted.get(digest):
            await self._store.put(APQ_PREFIX + digest, query, self._ttl)
        return query
