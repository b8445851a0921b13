"""Regression gating against a stored baseline: measure, baseline files, decide, flips, render.

The rule is in `lmgate.gate.decide`; README "Gating CI" explains it to users.
"""
