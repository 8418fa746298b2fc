"""Hippo's benchmarks: `bench/run` runs them all and writes one report (bench/README.md)."""
