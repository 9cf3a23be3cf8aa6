"""The benchmark suite: ``make bench`` (``python -m benchmarks``) runs every benchmark here; see BENCHMARKS.md."""
