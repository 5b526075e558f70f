"""Online assignment of an article to a story: `scoring` (pure functions over vectors and story
states: the decision the product runs). Beside it, not called by the worker (it lost under
leave-one-dataset-out, docs/benchmarks.md): `evidence` (words, names, numbers per article, story
profiles) and `join_model` (a learned join-or-new decision over them, join_model.json)."""
