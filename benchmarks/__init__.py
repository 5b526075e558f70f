"""Benchmarks for storyfold (run as scripts; the data is read from a folder outside the repo)."""
