"""Settings, in one place.

`IndexSettings` is what an index is built with: the model, the chunker, BM25, retrieval and
answerability, and the vector index. It is stored in the index's manifest and read back from it,
so a question is answered with the settings its index was built with. The calibrated numbers
(the answerable cut, the weak level, the lexical weight) live here and nowhere else.

The environment variables the package reads are read here only (see docs/development.md).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")
PACKAGE_DIR = Path(__file__).resolve().parent
EMBEDDERS = ("onnx", "torch", "fake")
PRECISIONS = ("int8", "float32")  # the model's weights: int8 (default) or the float32 export
VECTOR_KINDS = ("auto", "flat", "ivf")


def from_dict(cls: type[T], d: dict | None) -> T:
    """A settings dataclass from its dict; keys it does not know are left out."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (d or {}).items() if k in known})


class _Part:
    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelSettings(_Part):
    name: str
    dimension: int
    window: int  # tokens the model reads, [CLS] and [SEP] included
    # The weights the vectors were computed with: an index is searched only with its own.
    # float32 is not written, so indexes made before the field existed read as float32.
    precision: str = "float32"

    @classmethod
    def of(cls, embedder) -> ModelSettings:
        precision = getattr(embedder, "precision", "float32")
        return cls(embedder.name, embedder.dimension, embedder.window, precision)

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["precision"] == "float32":
            del d["precision"]
        return d


@dataclass(frozen=True)
class ChunkerSettings(_Part):
    name: str = "paragraph-sentence"
    version: int = 4  # 4: chunks keep to one page and one section
    window: int = 256  # the model's limit, [CLS] and [SEP] included
    min_tokens: int = 24
    title_prefix: bool = True  # the model sees "title: chunk text"; the chunk text stays exact


@dataclass(frozen=True)
class LexicalSettings(_Part):
    """Tuned on the SciFact train split (scripts/tune_scifact.py): nDCG@10 is flat for k1 0.9-1.5
    and b 0.3-0.4, and indexing the title with every chunk gains ~0.005 over chunk text alone."""

    k1: float = 1.2
    b: float = 0.4
    stemmer: str = "english"
    fields: str = "title+chunk-text"  # or "chunk-text": leave the document title out
    stopwords: str = "assistant-v1"  # names words.STOPWORDS; change it when the list changes


@dataclass(frozen=True)
class RetrievalSettings(_Part):
    """Fusion values were tuned on the SciFact train split (scripts/tune_scifact.py)."""

    mode: str = "hybrid"
    lexical_weight: float = 1.2  # hybrid score = cosine + lexical_weight * normalised BM25
    depth: int = 100  # candidates taken from each of the dense and lexical rankings
    # A passage sharing this much of its vocabulary with a better one is a near-copy of it
    # (a reworded wire copy shares ~0.8, distinct paragraphs on one topic under 0.5).
    near_duplicate: float = 0.7
    # Answerability: a logistic model of the best cosine, the best BM25, the cosine to the
    # closest generic question and log10(chunks in the index) (the best of many chunks is
    # higher by chance), fitted by scripts/calibrate_answerability.py.
    confidence_bias: float = 1.974
    confidence_dense: float = 17.012
    confidence_lexical: float = 3.475
    confidence_background: float = -16.521
    confidence_log_chunks: float = -1.543
    # The topic cut: refusing an answerable question is counted twice as costly as showing
    # passages for one the documents do not answer, so passages may be shown from p >= 1/3.
    topic_at: float = 1 / 3
    # Past the topic cut, the confidence is the presence model's. Passages are shown from
    # answerable_at on, and below weak_below the answer is a weak match: chosen on the tuning
    # halves of tests/data/presence so that no more answerable questions are refused than with
    # the topic alone and about 90% stay answered (scripts/calibrate_presence.py).
    answerable_at: float = 0.134
    weak_below: float = 0.323
    # Generic questions this close to some chunk are about the corpus: they are left out.
    background_max_corpus_similarity: float = 0.5
    # Answer presence (answer/presence.py): a logistic model of the topic confidence and what
    # the best passage covers of the question's focus (bias, then presence.FEATURES), fitted
    # on the tuning halves of tests/data/presence by scripts/calibrate_presence.py --fit.
    presence: tuple[float, ...] = (
        -1.473,
        0.227,
        0.988,
        -0.795,
        0.425,
        -0.157,
        -1.1,
        -0.384,
        0.533,
        -0.435,
    )
    # A passage scoring below this share of the first one's score is shown as less related:
    # on the question sets, no passage holding the answer below rank 1 scored under 0.53.
    less_related_below: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "presence", tuple(float(c) for c in self.presence))


ANSWER_CUTS = ("answerable_at", "weak_below", "presence")


def retrieval_settings(stored: dict) -> RetrievalSettings:
    """The stored retrieval settings; an index written before the presence model it stores is
    the one this version reads takes today's presence model and cuts (they belong together)."""
    presence = stored.get("presence")
    if presence is None or len(presence) != len(RetrievalSettings().presence):
        stored = {k: v for k, v in stored.items() if k not in ANSWER_CUTS}
    return from_dict(RetrievalSettings, stored)


@dataclass(frozen=True)
class VectorIndexSettings(_Part):
    kind: str = "auto"  # auto: flat below approximate_from chunks, ivf from there on
    approximate_from: int = 200_000
    lists_per_sqrt: float = 4.0  # IVF lists = lists_per_sqrt * sqrt(chunks), at most max_lists
    max_lists: int = 16_384
    nprobe: int = 160  # lists searched per query
    rerank: int = 100  # approximate candidates re-scored exactly per query
    train_per_list: int = 40  # training sample = train_per_list * lists (k-means)
    train_iterations: int = 10
    seed: int = 1234

    def __post_init__(self) -> None:
        if self.kind not in VECTOR_KINDS:
            raise ValueError(f"vector index kind must be one of {VECTOR_KINDS}, not {self.kind!r}")

    def kind_for(self, n: int) -> str:
        if self.kind != "auto":
            return self.kind
        return "ivf" if n >= self.approximate_from else "flat"

    def lists_for(self, n: int) -> int:
        return max(1, min(self.max_lists, round(self.lists_per_sqrt * math.sqrt(n)), n // 39))


@dataclass(frozen=True)
class IndexSettings:
    """Everything an index is built with; the manifest keeps each part under its own key."""

    model: ModelSettings
    chunker: ChunkerSettings = field(default_factory=ChunkerSettings)
    lexical: LexicalSettings = field(default_factory=LexicalSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    vectors: VectorIndexSettings = field(default_factory=VectorIndexSettings)

    @classmethod
    def for_model(cls, model: ModelSettings, **parts: Any) -> IndexSettings:
        """The defaults for `model` (the chunk window is the model's), with `parts` replaced."""
        parts = {k: v for k, v in parts.items() if v is not None}
        parts.setdefault("chunker", ChunkerSettings(window=model.window))
        return cls(model=model, **parts)

    def to_manifest(self) -> dict:
        return {
            "model": self.model.to_dict(),
            "chunker": self.chunker.to_dict(),
            "lexical": self.lexical.to_dict(),
            "retrieval": self.retrieval.to_dict(),
            "vector_index": self.vectors.to_dict(),
        }

    @classmethod
    def from_manifest(cls, manifest: dict) -> IndexSettings:
        return cls(
            model=from_dict(ModelSettings, manifest["model"]),
            chunker=from_dict(ChunkerSettings, manifest["chunker"]),
            lexical=from_dict(LexicalSettings, manifest["lexical"]),
            retrieval=retrieval_settings(manifest["retrieval"]),
            vectors=from_dict(VectorIndexSettings, manifest.get("vector_index")),
        )

    def unreadable_by_this_version(self) -> str:
        """Why this code cannot keep building or searching an index with these settings ("" when
        it can): parts whose meaning is fixed by the code, not by a number."""
        code_chunker, code_lexical = ChunkerSettings(), LexicalSettings()
        if (self.chunker.name, self.chunker.version) != (code_chunker.name, code_chunker.version):
            return (
                f"its chunker settings are {self.chunker.name} version {self.chunker.version}; "
                f"this version chunks with {code_chunker.name} version {code_chunker.version}"
            )
        if self.chunker.window > self.model.window:
            window = self.chunker.window
            return f"its chunker settings make {window}-token chunks, over the model's window"
        if self.lexical.stopwords != code_lexical.stopwords:
            return (
                f"its lexical settings use the stopword list {self.lexical.stopwords!r}; this "
                f"version has {code_lexical.stopwords!r}"
            )
        return ""


# --- the environment: every variable the package reads --------------------------------------


def env_index() -> Path | None:
    """$ASSISTANT_INDEX: the index used when no --index is given."""
    value = os.environ.get("ASSISTANT_INDEX")
    return Path(value) if value else None


def default_index_dir() -> Path:
    """$ASSISTANT_INDEX, else index/default in the project checkout (or working directory)."""
    if env_index() is not None:
        return env_index()
    checkout = PACKAGE_DIR.parent
    root = checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()
    return root / "index" / "default"


def index_dir_or_default(index_dir: str | Path | None) -> Path:
    return Path(index_dir) if index_dir else default_index_dir()


def cache_dir() -> Path:
    """$ASSISTANT_CACHE_DIR, else $XDG_CACHE_HOME/citation-assistant, else ~/.cache/..."""
    if os.environ.get("ASSISTANT_CACHE_DIR"):
        return Path(os.environ["ASSISTANT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "citation-assistant"


def _choice(variable: str, allowed: tuple[str, ...], default: str) -> str:
    wanted = os.environ.get(variable) or default
    if wanted not in allowed:
        raise ConfigError(
            f"{variable} must be one of {', '.join(allowed)}, not {wanted!r}. "
            f"Unset it to use the default ({default})."
        )
    return wanted


def embedder_backend() -> str:
    """$ASSISTANT_EMBEDDER: onnx (default), torch, or fake (tests: no model)."""
    return _choice("ASSISTANT_EMBEDDER", EMBEDDERS, "onnx")


def model_precision() -> str:
    """$ASSISTANT_PRECISION: the weights new indexes are built with, int8 (default: ~1.8x
    faster ingest, SciFact nDCG@10 within 0.003, docs/speed-and-scale.md) or float32."""
    return _choice("ASSISTANT_PRECISION", PRECISIONS, "int8")


def model_threads() -> int | None:
    """$ASSISTANT_THREADS: threads for the ONNX model (default: onnxruntime's choice)."""
    value = os.environ.get("ASSISTANT_THREADS")
    if not value:
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(
            f"ASSISTANT_THREADS must be a whole number of threads, 1 or more, not {value!r}. "
            "Unset it to let the model use every core."
        )
    return int(value)


def auth_env() -> str | None:
    """$ASSISTANT_AUTH: USER:PASSWORD for `assistant serve` when --auth is not given."""
    return os.environ.get("ASSISTANT_AUTH")


def ray_address() -> str | None:
    """$RAY_ADDRESS: the Ray cluster `ingest --ray` joins (default: a local instance)."""
    return os.environ.get("RAY_ADDRESS") or None


def debug() -> bool:
    """$ASSISTANT_DEBUG=1: the CLI shows the traceback of an unexpected error."""
    value = os.environ.get("ASSISTANT_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def set_offline() -> None:
    """Nothing may be fetched from a model hub: the model comes from a local package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
