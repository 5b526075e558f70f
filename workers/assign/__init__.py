"""Online assignment of an article to a story: `scoring` (pure functions over vectors and story
states) and `index` (the quiet stories' centroids, in memory, kept current from the storage
layer's change log)."""
