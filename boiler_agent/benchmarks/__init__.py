"""Reproducible benchmarks, each a `run()` returning numbers and a `main()` printing them."""
