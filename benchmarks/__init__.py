"""Benchmarks of centrepoint-async: each prints ratios against baselines measured in the same run.

Run them all with ``nox -s bench`` or ``python -m benchmarks [name ...]``.
"""
