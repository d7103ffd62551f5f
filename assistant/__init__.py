"""A local, citation-first retrieval assistant: answers are verbatim, cited spans of sources."""

from .answer.assistant import Assistant
from .errors import AssistantError
from .indexing.sync import IngestReport, ingest, list_documents, remove
from .schema import Answer, Chunk, Document, Highlight, Passage, Source
from .settings import default_index_dir

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
