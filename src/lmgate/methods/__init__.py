"""Methods: what an experiment does to a model and data, each returning results.

`finetune` (full fine-tuning), `zero_shot` (prompted classification), `heads` (a classification
head on a frozen base), `span_head` and `qa_zero_shot` (extractive QA), `lora` and
`translation`, `baselines` (majority class, TF-IDF), `lazy_zero_shot` and `lazy_generation`
(systems produced only as far as a sequential claim needs, on `lazy`'s base), with the shared
Trainer helpers (`trainer`), the launcher of runs on several processes (`launch`) and its rank
worker (`rank`).
Nothing here imports torch at module import time.
"""
