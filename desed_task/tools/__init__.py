"""Developer tools (benchmarks): not part of the library's API, never imported by ``import desed_task``."""
