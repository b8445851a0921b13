"""Causal LMs run in this process: the language-model interface, the transformers engine
(batched log-likelihoods and greedy generation) and its CPU speed-ups."""
