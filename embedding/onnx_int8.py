"""all-MiniLM-L6-v2 as an int8 ONNX model on onnxruntime: the `onnx-int8` embedding backend.

The model is exported once from the packaged, SHA-256-verified weights (torch's TorchScript ONNX
exporter, so no extra exporter packages), quantised with onnxruntime's dynamic quantisation (int8
weights per output channel; activations quantised at run time, per batch) and cached in the data
folder:

    <cache_dir>/minilm-l6-int8-<sha12>.onnx        the quantised model
    <cache_dir>/minilm-l6-int8-<sha12>.ref.npy     torch's vectors for CHECK_SENTENCES
    <cache_dir>/minilm-l6-int8-<sha12>.json        sidecar: recipe, source and file SHA-256s, check

Later starts re-hash the two cached files against the sidecar (milliseconds) and reuse them; a
missing, corrupted or foreign cache is exported again. Every start embeds CHECK_SENTENCES with the
int8 model and compares them with torch's vectors stored at export time: the embedder refuses to
run when the lowest cosine is below `min_cosine`.

The export and quantisation (five feed-forward MatMuls stay float32) are embedding.onnx_export's;
the threads that run batches side by side, embedding.batch_pool's.

Tokenisation, truncation (256 tokens), mean pooling over the attention mask and L2 normalisation
are sentence-transformers' own for this model; pooling and normalisation are part of the exported
graph. Batches are sorted by token count (sentence-transformers sorts by characters).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from embedding.base import Embedder, Vectors
from embedding.batch_pool import BatchPool
from embedding.onnx_export import (
    CHECK_SENTENCES,
    FLOAT_NODES,
    OUTPUT_NAME,
    RECIPE,
    check_sentences_sha256,
    export_fp32,
    quantise,
    versions,
)
from embedding.spec import MODEL
from embedding.torch_backend import (
    SentenceTransformerEmbedder,
    packaged_model_path,
    sha256_of,
    verify_model,
)

log = structlog.get_logger(__name__)

DEFAULT_BATCH = 16  # int8 on onnxruntime: faster, and closer to torch, than 64 (measured)


class EmbedQualityError(RuntimeError):
    """The int8 model's vectors are too far from torch's: the backend refuses to run."""


@dataclass(frozen=True)
class CosineCheck:
    min: float
    mean: float
    sentences: int


@dataclass(frozen=True)
class CachePaths:
    model: Path
    reference: Path
    sidecar: Path
    lock: Path

    @classmethod
    def under(cls, cache_dir: Path, source_sha256: str = MODEL.weights_sha256) -> CachePaths:
        stem = cache_dir / f"minilm-l6-int8-{source_sha256[:12]}"
        return cls(
            model=stem.with_suffix(".onnx"),
            reference=stem.with_suffix(".ref.npy"),
            sidecar=stem.with_suffix(".json"),
            lock=stem.with_suffix(".lock"),
        )


def cosine_check(vectors: Vectors, reference: Vectors) -> CosineCheck:
    cos = np.sum(vectors * reference, axis=1)
    return CosineCheck(min=float(cos.min()), mean=float(cos.mean()), sentences=len(cos))


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class OnnxInt8Embedder:
    """all-MiniLM-L6-v2, int8, on onnxruntime; exported once into `cache_dir` and reused."""

    dim = MODEL.dim

    def __init__(
        self,
        cache_dir: Path,
        *,
        model_dir: Path | None = None,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH,
        max_seq_length: int = 256,
        min_cosine: float = 0.98,
        reference: Embedder | None = None,
    ):
        """`reference`: the torch embedder to compare with when exporting (default: a fresh
        SentenceTransformerEmbedder, loaded only if an export is needed)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime as ort

        self.model_dir = model_dir or packaged_model_path()
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.threads = threads or default_threads()
        self.paths = CachePaths.under(Path(cache_dir))
        self._tokenizer = FastTokenizer(self.model_dir, max_seq_length)

        self.paths.model.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.paths.lock):  # concurrent workers: one exports, the others reuse it
            problem = self._cache_problem()
            self.exported = problem is not None
            self.export_seconds: float | None = None
            if problem is not None:
                if self.paths.sidecar.exists() or self.paths.model.exists():
                    log.warning("embed.onnx_cache_invalid", path=str(self.paths.model), why=problem)
                started = time.perf_counter()
                self._export(reference)
                self.export_seconds = time.perf_counter() - started
            meta = json.loads(self.paths.sidecar.read_text())
            session = ort.InferenceSession(
                str(self.paths.model), _session_options(), providers=["CPUExecutionProvider"]
            )
            reference_vectors = np.load(self.paths.reference)
        pool = BatchPool(self.threads) if self.threads > 1 else None
        self._runner = _Runner(self._tokenizer, session, batch_size, max_seq_length, pool)

        self.check = cosine_check(self.encode(CHECK_SENTENCES), reference_vectors)
        log.info(
            "embed.onnx_check",
            model=str(self.paths.model),
            min_cosine=round(self.check.min, 4),
            mean_cosine=round(self.check.mean, 4),
            threshold=min_cosine,
            exported=self.exported,
            at_export=meta.get("check"),
        )
        if self.check.min < min_cosine:
            raise EmbedQualityError(
                f"the int8 model {self.paths.model} is too far from torch: lowest cosine "
                f"{self.check.min:.4f} over {self.check.sentences} check sentences, below "
                f"embed_min_cosine={min_cosine}; use embed_backend='torch'"
            )

    def encode(self, texts: Sequence[str]) -> Vectors:
        return self._runner.encode(texts)

    def in_background(self) -> Embedder:
        """This same model, its batches run after any `encode` call's that are waiting: for work
        that can wait (a summary's sentences) beside work that should not (story decisions)."""
        return _Background(self._runner)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model sees it ([CLS] and [SEP] included, truncated)."""
        return [len(e.ids) for e in self._tokenizer.encode(texts)]

    # -- the cache -------------------------------------------------------------------------

    def _cache_problem(self) -> str | None:
        """Why the cached files cannot be used as they are (None: they can)."""
        paths = self.paths
        if not paths.sidecar.is_file():
            return "no sidecar"
        try:
            meta = json.loads(paths.sidecar.read_text())
        except (OSError, ValueError) as exc:
            return f"unreadable sidecar: {exc}"
        if not isinstance(meta, dict):
            return "unreadable sidecar: not an object"
        expected = {
            "recipe": RECIPE,
            "source_sha256": MODEL.weights_sha256,
            "max_seq_length": self.max_seq_length,
            "check_sentences_sha256": check_sentences_sha256(),
        }
        for key, value in expected.items():
            if meta.get(key) != value:
                return f"{key} is {meta.get(key)!r}, expected {value!r}"
        for key, path in (("onnx_sha256", paths.model), ("reference_sha256", paths.reference)):
            if not path.is_file():
                return f"{path.name} is missing"
            if sha256_of(path) != meta.get(key):
                return f"{path.name} does not match its SHA-256 in {paths.sidecar.name}"
        return None

    def _export(self, reference: Embedder | None) -> None:
        """Export, quantise, record torch's check vectors, then write the sidecar (last: it is
        what makes the cache valid). Files are replaced atomically."""
        verify_model(self.model_dir)  # raises ModelIntegrityError
        paths = self.paths
        with tempfile.TemporaryDirectory(dir=paths.model.parent, prefix=".export-") as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            int8 = Path(tmp) / "int8.onnx"
            started = time.perf_counter()
            log.info("embed.onnx_export", source=str(self.model_dir), to=str(paths.model))
            export_fp32(self.model_dir, fp32)
            log.info(
                "embed.onnx_exported",
                seconds=round(time.perf_counter() - started, 2),
                bytes=fp32.stat().st_size,
            )
            started = time.perf_counter()
            quantise(fp32, int8)
            log.info(
                "embed.onnx_quantised",
                seconds=round(time.perf_counter() - started, 2),
                bytes=int8.stat().st_size,
                float_nodes=len(FLOAT_NODES),
            )

            if reference is None:
                log.info("embed.onnx_reference", what="loading the torch model for the check")
                reference = SentenceTransformerEmbedder(
                    self.model_dir, max_seq_length=self.max_seq_length
                )
            ref_vectors = np.asarray(reference.encode(CHECK_SENTENCES), dtype=np.float32)
            ref_file = Path(tmp) / "ref.npy"
            np.save(ref_file, ref_vectors)

            import onnxruntime as ort

            session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
            probe = _Runner(self._tokenizer, session, self.batch_size, self.max_seq_length)
            check = cosine_check(probe.encode(CHECK_SENTENCES), ref_vectors)

            meta = {
                "recipe": RECIPE,
                "source_sha256": MODEL.weights_sha256,
                "onnx_sha256": sha256_of(int8),
                "reference_sha256": sha256_of(ref_file),
                "check_sentences_sha256": check_sentences_sha256(),
                "max_seq_length": self.max_seq_length,
                "float_nodes": list(FLOAT_NODES),
                "versions": versions(),
                "check": {"min_cosine": check.min, "mean_cosine": check.mean, "n": check.sentences},
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            sidecar = Path(tmp) / "meta.json"
            sidecar.write_text(json.dumps(meta, indent=2) + "\n")
            os.replace(int8, paths.model)
            os.replace(ref_file, paths.reference)
            os.replace(sidecar, paths.sidecar)
        log.info(
            "embed.onnx_cached",
            model=str(paths.model),
            min_cosine=round(check.min, 4),
            mean_cosine=round(check.mean, 4),
        )


class _Background:
    dim = MODEL.dim

    def __init__(self, runner: _Runner) -> None:
        self._runner = runner

    def encode(self, texts: Sequence[str]) -> Vectors:
        return self._runner.encode(texts, priority=1)


class FastTokenizer:
    """The model's own tokenizer.json through the `tokenizers` library: the same ids, mask and
    truncation as transformers' AutoTokenizer (padding=True, truncation to max_seq_length; tested),
    without importing transformers, which imports torch (about 230 MB of a worker's memory that
    the int8 backend never uses)."""

    def __init__(self, model_dir: Path, max_seq_length: int) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tok.no_padding()  # the file pads to 128: pad per batch to its longest instead
        self.tok.enable_truncation(max_length=max_seq_length)

    def __call__(self, texts: Sequence[str]) -> dict[str, npt.NDArray[np.int64]]:
        return self.pad(self.encode(texts))

    def encode(self, texts: Sequence[str]) -> list[Any]:
        """Each text's tokens (`tokenizers.Encoding`), truncated, not padded."""
        return list(self.tok.encode_batch(list(texts)))

    def pad(self, encodings: Sequence[Any]) -> dict[str, npt.NDArray[np.int64]]:
        """The model's inputs for these encodings, padded to the longest."""
        width = max((len(e.ids) for e in encodings), default=0)
        out = {
            name: np.zeros((len(encodings), width), dtype=np.int64)
            for name in ("input_ids", "attention_mask", "token_type_ids")
        }
        for row, e in enumerate(encodings):
            n = len(e.ids)
            out["input_ids"][row, :n] = e.ids
            out["attention_mask"][row, :n] = e.attention_mask
            out["token_type_ids"][row, :n] = e.type_ids
        return out


class _Runner:
    """Tokenise in length-sorted batches, run the session, return rows in input order.

    The batches of one call run side by side on `pool` (one batch per thread, each thread one
    core), not one batch at a time spread over the cores by onnxruntime's intra-op threads: a
    sentence batch is small, and splitting every operator across threads costs a hand-off per
    operator (measured on 4,364 news sentences, 2 cores: 641 sentences/s side by side, 520 with
    2 intra-op threads). The vectors are the same either way: each batch is still computed alone.
    """

    def __init__(
        self,
        tokenizer: FastTokenizer,
        session: Any,
        batch_size: int,
        max_seq_length: int,
        pool: BatchPool | None = None,
    ):
        self.tokenizer = tokenizer
        self.session = session
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.pool = pool
        self.inputs = [i.name for i in session.get_inputs()]

    def encode(self, texts: Sequence[str], priority: int = 0) -> Vectors:
        if not texts:
            return np.zeros((0, MODEL.dim), dtype=np.float32)
        encodings = self.tokenizer.encode(texts)
        # Most tokens first, so each batch pads to similar lengths. (sentence-transformers sorts
        # by characters, which wastes a fifth of the model's work on padding for news sentences.)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        out = np.empty((len(texts), MODEL.dim), dtype=np.float32)

        def run(rows: npt.NDArray[np.intp]) -> None:
            enc = self.tokenizer.pad([encodings[i] for i in rows])
            (vectors,) = self.session.run([OUTPUT_NAME], {name: enc[name] for name in self.inputs})
            out[rows] = vectors

        # Background batches are half as long: a story decision waits at most for one of them.
        size = self.batch_size if priority == 0 else max(1, self.batch_size // 2)
        if self.pool is not None and len(texts) < size * self.pool.threads:
            size = -(-len(texts) // self.pool.threads)  # a short call: every thread a share
        batches = [order[start : start + size] for start in range(0, len(texts), size)]
        if self.pool is None or len(batches) == 1:
            for rows in batches:
                run(rows)
        else:
            self.pool.run_all([functools.partial(run, rows) for rows in batches], priority)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def _session_options() -> Any:
    """Each run on the calling thread alone: parallelism comes from BatchPool, a batch a core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
