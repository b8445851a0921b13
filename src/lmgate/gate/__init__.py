"""Regression gating against a stored baseline: measure, baseline files, decide, flips, render.

The rule is in `lmgate.gate.decide`; docs/guide/gate.md explains it to users.
"""
