"""Controlled experiments on the reference generator: duplication vs memorisation, opt-out effect.

Each experiment builds its own training set, trains the generator, samples, scans the samples with
the memorisation audit and writes results.parquet + summary.json + report.html + meta.json.
Light on import: torch, faiss and friends load inside the functions that need them.
"""
