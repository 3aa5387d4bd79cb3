"""Parley's benchmarks: ``python -m bench [fanout|coldstart|roundtrips|e2e] [--quick]`` (see docs/benchmarks.md).

Every benchmark measures a baseline in the same run, prints a table, writes its numbers as JSON to
``bench/results/`` and a plot to ``docs/`` (``bench/results/`` in ``--quick`` mode). All traffic stays on
127.0.0.1. Nothing here imports from ``tests/``.
"""
