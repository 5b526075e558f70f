"""`storyfold embed-check`: sentences/s of the torch and onnx-int8 embedders on this machine, and
how close the int8 vectors are to torch's (the setting STORYFOLD_EMBED_BACKEND chooses between
them)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

MFLOP_PER_TOKEN = 21.0  # all-MiniLM-L6-v2: 2 x ~10.6 M weights in the six encoder layers

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, highlight=False)


def _sentences(paths: list[Path]) -> list[str]:
    from storyfold.ingest import Unreadable, iter_files, read_articles
    from workers.extract import extract

    found: list[str] = []
    try:
        files = list(iter_files(paths))
    except ValueError as exc:  # not an article file: before any model is loaded
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from exc
    for file in files:
        for where, item in read_articles(file):
            if isinstance(item, Unreadable):
                err.print(f"skipped {where}: {item.reason}", markup=False)
            if not isinstance(item, dict):
                continue
            text, html, title = item.get("text"), item.get("html"), item.get("title")
            ex = extract(
                text=text if isinstance(text, str) else None,
                html=html if isinstance(html, str) else None,
                title=title if isinstance(title, str) else None,
            )
            found.extend(([ex.title] if ex.title else []) + ex.sentences)
    return found


def embed_check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            exists=True, help="Article files or folders (.txt/.json/.jsonl) to take sentences from"
        ),
    ] = None,
    repeat: Annotated[
        int, typer.Option(min=1, help="Without PATHS: how often to repeat the built-in sentences")
    ] = 8,
    rounds: Annotated[int, typer.Option(min=1, help="Timed passes per backend")] = 2,
    threads: Annotated[
        int | None, typer.Option(min=1, help="onnx-int8 threads (env STORYFOLD_EMBED_THREADS)")
    ] = None,
    model_cache: Annotated[
        Path | None,
        typer.Option(help="Where the int8 export is cached (env STORYFOLD_MODEL_CACHE_DIR)"),
    ] = None,
) -> None:
    """Sentences/s of the torch and onnx-int8 embedders, and the int8 vectors' cosine to torch."""
    from core.config import Settings
    from core.logs import configure_logging
    from embedding.onnx_export import CHECK_SENTENCES
    from embedding.onnx_int8 import OnnxInt8Embedder
    from embedding.torch_backend import SentenceTransformerEmbedder

    settings = Settings()
    configure_logging(settings.log_json, level="WARNING")
    texts = _sentences(paths) if paths else list(CHECK_SENTENCES) * repeat
    if not texts:
        err.print("no sentences found", style="red")
        raise typer.Exit(1)

    started = time.perf_counter()
    torch_model = SentenceTransformerEmbedder(batch_size=settings.embed_batch)
    torch_load = time.perf_counter() - started
    started = time.perf_counter()
    int8 = OnnxInt8Embedder(
        model_cache or settings.model_cache,
        threads=threads or settings.embed_threads,
        min_cosine=0.0,  # measure, do not refuse; the check's own result is printed below
        reference=torch_model,
    )
    int8_load = time.perf_counter() - started

    lengths = int8.token_counts(texts)
    tokens = sum(lengths)
    out.print(
        f"{len(texts)} sentences, {tokens / len(texts):.1f} tokens/sentence on average "
        f"(median {int(np.median(lengths))}, longest {max(lengths)}); onnx-int8 threads "
        f"{int8.threads}"
    )
    if int8.exported:
        out.print(f"onnx-int8: exported and quantised in {int8.export_seconds:.1f}s")
    out.print(f"loaded: torch {torch_load:.1f}s, onnx-int8 {int8_load:.1f}s ({int8.paths.model})")

    vectors = {}
    for name, model in (("torch", torch_model), ("onnx-int8", int8)):
        model.encode(texts[:32])  # warm-up
        for n in range(rounds):
            started = time.perf_counter()
            vectors[name] = model.encode(texts)
            seconds = time.perf_counter() - started
            out.print(
                f"{name:>9} pass {n + 1}: {len(texts) / seconds:8.1f} sentences/s "
                f"{tokens / seconds:9.0f} tokens/s  "
                f"({tokens / seconds * MFLOP_PER_TOKEN / 1000:.0f} GFLOP/s at "
                f"{MFLOP_PER_TOKEN:.0f} MFLOP/token)"
            )
    cos = np.sum(vectors["torch"] * vectors["onnx-int8"], axis=1)
    out.print(
        f"cosine onnx-int8 to torch: min {cos.min():.4f}, 1st percentile "
        f"{np.percentile(cos, 1):.4f}, mean {cos.mean():.4f}; built-in check: min "
        f"{int8.check.min:.4f}, mean {int8.check.mean:.4f} (refused below "
        f"STORYFOLD_EMBED_MIN_COSINE={settings.embed_min_cosine})"
    )
