"""The onnx-int8 embedder against torch: the real packaged model, real onnxruntime, no mocks.

The model is exported and quantised once per test session into a temporary cache folder; the
cache tests work on copies of it.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from embedding.base import ModelIntegrityError
from embedding.batch_pool import BatchPool
from embedding.factory import make_embedders
from embedding.factory import select_backend as make_embedder
from embedding.onnx_export import CHECK_SENTENCES
from embedding.onnx_int8 import CachePaths, EmbedQualityError, OnnxInt8Embedder, default_threads
from embedding.torch_backend import SentenceTransformerEmbedder, packaged_model_path

# Not in CHECK_SENTENCES: the check list must not be the only text the int8 model is judged on.
UNSEEN = [
    "The regional parliament approved a plan to build 5,000 social housing units by 2030.",
    "Two hikers were rescued by helicopter after spending the night on a ledge.",
    "The tech firm laid off 8% of its staff, citing weaker demand for its cloud services.",
    "Residents were told to stay indoors as smoke from the refinery fire drifted over the town.",
    "The coach was sacked after a run of seven defeats in nine matches.",
    "A new study links long commutes to poorer sleep among office workers.",
    "The ambassador was summoned to explain remarks made at a rally.",
    "Train services between the two cities will be suspended for repairs over the weekend.",
    "The pop star announced a farewell tour starting in Lisbon in October.",
    "Customs officers seized 1.2 tonnes of cocaine hidden in a shipment of bananas.",
    "Is the recovery over before it began?",
    "Nobody was hurt.",
    "The minister denied that the contract had been awarded without a tender.",
    "Snowfall of up to 50 centimetres is expected in the mountains on Tuesday.",
    "The charity said donations had fallen sharply as households struggled with energy bills.",
    "Officials at the port said container traffic was back to normal after the cyberattack.",
    "El alcalde prometió ampliar el horario del transporte público durante el verano.",
    "The panel recommended that the drug be approved for adults over 65.",
    "UPDATE 2-Steelmaker posts record profit, raises dividend",
    "Archaeologists uncovered a Roman mosaic beneath a car park in the town centre.",
]


# `cache_dir` and `int8` (exported once per session) are fixtures of conftest.py: the pipeline
# tests' workers embed summary sentences with it, as the product does by default.


def test_close_to_torch_on_unseen_sentences(
    int8: OnnxInt8Embedder, embedder: SentenceTransformerEmbedder
) -> None:
    assert not set(UNSEEN) & set(CHECK_SENTENCES)
    cos = np.sum(int8.encode(UNSEEN) * embedder.encode(UNSEEN), axis=1)
    assert cos.min() >= 0.98, list(zip(cos.round(4).tolist(), UNSEEN, strict=True))
    assert cos.mean() >= 0.99
    assert int8.check.min >= 0.98 and int8.check.sentences == len(CHECK_SENTENCES)


def test_rows_are_float32_unit_vectors(int8: OnnxInt8Embedder) -> None:
    vectors = int8.encode(UNSEEN[:5])
    assert vectors.shape == (5, 384) and int8.dim == 384
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_rows_come_back_in_input_order(
    int8: OnnxInt8Embedder, embedder: SentenceTransformerEmbedder
) -> None:
    long = " ".join(UNSEEN * 3)  # over 256 tokens: truncated like torch's
    texts = [
        UNSEEN[11],
        long,
        UNSEEN[0],
        "Polls closed.",
        UNSEEN[5],
        UNSEEN[11],
        UNSEEN[14],
        UNSEEN[3] + " " + UNSEEN[4],
    ]
    assert int8.token_counts([long]) == [256]
    int8.batch_size = 3  # several batches, each sorted by length
    try:
        vectors = int8.encode(texts)
    finally:
        int8.batch_size = 16
    reference = embedder.encode(texts)
    sims = vectors @ reference.T
    assert np.all(np.diag(sims) >= 0.98), np.diag(sims)
    for i, text in enumerate(texts):
        # each row is its own text's vector: nearest to it, close to it encoded alone (not equal:
        # int8 activations are scaled per batch, so a row depends a little on its batch)
        assert texts[int(np.argmax(sims[i]))] == text
        assert float(vectors[i] @ int8.encode([text])[0]) >= 0.98


def test_empty_input(int8: OnnxInt8Embedder) -> None:
    vectors = int8.encode([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


def test_a_second_start_reuses_the_export(cache_dir: Path, int8: OnnxInt8Embedder) -> None:
    paths = CachePaths.under(cache_dir)
    before = {p: p.stat().st_mtime_ns for p in (paths.model, paths.reference, paths.sidecar)}
    started = time.perf_counter()
    again = OnnxInt8Embedder(cache_dir)  # no reference: an export would have to load torch
    assert time.perf_counter() - started < 15  # about 1 s; no export (that takes 5 to 10 s)
    assert not again.exported and again.export_seconds is None
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert np.allclose(again.encode(UNSEEN[:4]), int8.encode(UNSEEN[:4]), atol=1e-6)
    meta = json.loads(paths.sidecar.read_text())
    assert meta["source_sha256"].startswith(paths.model.stem.rsplit("-", 1)[1])
    assert meta["check"]["min_cosine"] >= 0.98


@pytest.mark.parametrize("damage", ["corrupt model", "foreign sidecar"])
def test_a_damaged_or_foreign_cache_is_exported_again(
    damage: str,
    cache_dir: Path,
    tmp_path: Path,
    int8: OnnxInt8Embedder,
    embedder: SentenceTransformerEmbedder,
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(cache_dir, copy)
    paths = CachePaths.under(copy)
    if damage == "corrupt model":
        data = bytearray(paths.model.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
        paths.model.write_bytes(bytes(data))
    else:  # a cache written for other weights, dropped under this name
        meta = json.loads(paths.sidecar.read_text())
        meta["source_sha256"] = "0" * 64
        paths.sidecar.write_text(json.dumps(meta))
    model = OnnxInt8Embedder(copy, reference=embedder)
    assert model.exported
    assert model.check.min >= 0.98
    assert np.allclose(model.encode(UNSEEN[:4]), int8.encode(UNSEEN[:4]), atol=1e-5)
    assert not OnnxInt8Embedder(copy).exported  # and the repaired cache is reused


def test_refuses_to_run_below_the_minimum_cosine(cache_dir: Path, int8: OnnxInt8Embedder) -> None:
    with pytest.raises(EmbedQualityError, match=r"embed_min_cosine=0\.99999"):
        OnnxInt8Embedder(cache_dir, min_cosine=0.99999)


def test_refuses_to_export_weights_that_are_not_upstream(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(packaged_model_path(), model_dir)
    (model_dir / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        OnnxInt8Embedder(tmp_path / "models", model_dir=model_dir)
    assert not CachePaths.under(tmp_path / "models").sidecar.exists()


def test_the_settings_choose_the_backends(
    cache_dir: Path, tmp_path: Path, int8: OnnxInt8Embedder
) -> None:
    defaults = Settings(_env_file=None)
    assert defaults.embed_backend == defaults.summary_embed_backend == "onnx-int8"
    shutil.copytree(cache_dir, tmp_path / "models")
    settings = Settings(_env_file=None, model_cache_dir=tmp_path / "models", embed_threads=1)
    model = make_embedder(settings)
    assert isinstance(model, OnnxInt8Embedder)
    assert not model.exported and model.threads == 1  # the cached export, reused
    lead, rest = make_embedders(settings)
    assert lead is rest  # one model when both settings name the same backend
    lead, rest = make_embedders(settings.model_copy(update={"embed_backend": "torch"}))
    assert isinstance(lead, SentenceTransformerEmbedder) and isinstance(rest, OnnxInt8Embedder)


def test_its_tokenizer_gives_transformers_ids_without_importing_torch() -> None:
    """FastTokenizer (tokenizers only) and AutoTokenizer agree id for id, padding and truncation
    included, so a worker on the int8 backend need not load transformers and torch."""
    from transformers import AutoTokenizer

    from embedding.onnx_export import CHECK_SENTENCES
    from embedding.onnx_int8 import FastTokenizer
    from embedding.torch_backend import packaged_model_path

    texts = [
        *CHECK_SENTENCES,
        "",
        "Ünïcödé — “quotes” 😀 東京, U.S.-based 3.5% rise",
        " ".join(["word"] * 600),  # past 256 tokens: truncated, [SEP] kept
        "a\tb\nc",
    ]
    reference = AutoTokenizer.from_pretrained(str(packaged_model_path()), local_files_only=True)
    want = reference(texts, padding=True, truncation=True, max_length=256, return_tensors="np")
    got = FastTokenizer(packaged_model_path(), 256)(texts)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert got[name].shape == want[name].shape and (got[name] == want[name]).all(), name
    assert got["input_ids"].shape[1] == 256


def test_a_worker_on_the_int8_backend_never_loads_torch(
    cache_dir: Path, int8: OnnxInt8Embedder
) -> None:
    """The default worker (int8 for both stages, the export already cached) runs without torch:
    about 230 MB less memory per worker process."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from storyfold.compose import build_storage, build_worker\n"
        "from core.config import Settings\n"
        "s = Settings(_env_file=None)\n"
        "w = build_worker(s, build_storage(s, 'redis://127.0.0.1:1/0'), name='probe')\n"
        "w.embedder.encode(['A sentence to embed.'])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "STORYFOLD_MODEL_CACHE_DIR": str(cache_dir)}
    env = {k: v for k, v in env.items() if k != "STORYFOLD_EMBED_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_batches_side_by_side_give_the_vectors_of_one_thread(
    cache_dir: Path, tmp_path: Path, int8: OnnxInt8Embedder
) -> None:
    """Threads run whole batches (one core each), so the vectors do not depend on how many run
    at once; a background call (a summary's sentences) gives the same vectors too, in halves."""
    shutil.copytree(cache_dir, tmp_path / "models")
    one = OnnxInt8Embedder(tmp_path / "models", threads=1)
    texts = [f"{s} ({n})" for n, s in enumerate(CHECK_SENTENCES * 3)]
    assert int8.threads == default_threads()
    side_by_side = OnnxInt8Embedder(tmp_path / "models", threads=3).encode(texts)
    np.testing.assert_array_equal(side_by_side, one.encode(texts))
    background = int8.in_background().encode(texts)
    assert float(np.min(np.sum(background * one.encode(texts), axis=1))) > 0.99


def test_the_pool_runs_story_decisions_before_waiting_summary_batches() -> None:
    pool = BatchPool(threads=1)
    gate, ran = threading.Event(), []
    foreground, background = pool._queues  # waiting tasks, looked at to order the test's steps

    def until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline
            time.sleep(0.005)

    holding = threading.Event()

    def hold() -> None:
        holding.set()
        gate.wait()

    blocker = threading.Thread(target=pool.run_all, args=([hold],))
    blocker.start()  # holds the only thread until the gate opens
    assert holding.wait(10)
    summary = threading.Thread(
        target=pool.run_all, args=([lambda: ran.append("summary")],), kwargs={"priority": 1}
    )
    summary.start()
    until(lambda: len(background) == 1)
    story = threading.Thread(target=pool.run_all, args=([lambda: ran.append("story")],))
    story.start()
    until(lambda: len(foreground) == 1)
    gate.set()
    for t in (blocker, summary, story):
        t.join(5)
    assert ran == ["story", "summary"]


def test_an_error_in_a_pooled_batch_reaches_the_caller() -> None:
    def broken() -> None:
        raise ValueError("bad batch")

    pool = BatchPool(threads=2)
    with pytest.raises(ValueError, match="bad batch"):
        pool.run_all([lambda: None, broken, lambda: None])
    pool.run_all([lambda: None])  # the threads survive it
