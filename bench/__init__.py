"""Benchmarks: what precomputed teacher scores cost and save (`python -m bench`, `make bench`)."""
