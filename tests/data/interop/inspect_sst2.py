"""An Inspect task over sst2_20.jsonl: the review, a prompt asking for its sentiment, a short
generation, scored by `includes()` against "negative"/"positive"."""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample, json_dataset
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import includes
from inspect_ai.solver import generate, prompt_template

LABELS = ["negative", "positive"]


def record_to_sample(record: dict) -> Sample:
    return Sample(id=record["idx"], input=record["sentence"], target=LABELS[record["label"]],
                  metadata={"label": record["label"]})


@task
def sst2(data: str, prompt: str = "Review: {prompt}\nIs this review positive or negative? "
                                  "Answer with one word.", max_tokens: int = 4) -> Task:
    return Task(dataset=json_dataset(data, record_to_sample),
                solver=[prompt_template(prompt), generate()], scorer=includes(),
                config=GenerateConfig(max_tokens=max_tokens), version=1)
