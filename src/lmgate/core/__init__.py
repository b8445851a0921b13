"""The bottom layer: errors, atomic writes, the run cache, progress, configuration (training
and LoRA settings, profiles, the pyproject reader) and the device/dtype policy.

It imports nothing else of lmgate; every other layer may import it.
"""
