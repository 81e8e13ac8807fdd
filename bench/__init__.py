"""Benchmarks: the portal beside its physical reference, measured in the same run."""
