"""A local, citation-first retrieval assistant: answers are verbatim, cited spans of sources."""

from .api import Assistant, IngestReport, default_index_dir, ingest, list_documents, remove
from .errors import AssistantError
from .schema import Answer, Chunk, Document, Highlight, Passage, Source

__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "Chunk",
    "Document",
    "Highlight",
    "IngestReport",
    "Passage",
    "Source",
    "default_index_dir",
    "ingest",
    "list_documents",
    "remove",
]
