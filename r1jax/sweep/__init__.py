"""Ablation sweeps: sweep files (spec.py), the runner (runner.py); aggregation is
r1jax/eval/compare.py."""
