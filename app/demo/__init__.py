"""Demo data: realistic events for trying the dashboard and for the benchmarks."""
