"""The bf16-screened output layer (lmgate.models.engines.screened_head): greedy choices equal float32's,
on random layers built to have near-ties and flat rows, and on SmolLM2's generations."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from lmgate.core.cache import RunCache
from lmgate.models.engines import screened_head
from lmgate.models.engines.screened_head import CANDIDATES, screened_logits


pytestmark = pytest.mark.all_cores

def _layer(seed: int, vocab: int, dim: int, flat_rows: int):
    """A weight with near-duplicate rows (near-ties in every row of logits) and hidden states
    of realistic size (norms ~100, like a final norm's output), some of them zero-ish (flat
    rows: every token a candidate, the float32 fallback)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(vocab // 4, dim, generator=g) / dim ** 0.5
    weight = torch.cat([base + 1e-3 * torch.randn(base.shape, generator=g) for _ in range(4)])
    hidden = torch.randn(8, 1, dim, generator=g) * 100 / dim ** 0.5
    hidden[:flat_rows] *= 1e-4
    return weight, hidden


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), vocab=st.sampled_from([256, 5000, 20_000]),
       flat_rows=st.integers(0, 3))
def test_the_screened_argmax_is_the_float32_argmax(seed, vocab, flat_rows):
    weight, hidden = _layer(seed, vocab, 64, flat_rows)
    exact = hidden.reshape(-1, 64) @ weight.T
    screened = screened_logits(hidden, weight, weight.to(torch.bfloat16),
                               float(weight.norm(dim=1).max())).reshape(exact.shape)
    chosen, best = screened.argmax(dim=-1), exact.argmax(dim=-1)
    # Equal, or a tie that float32's own summation order could break either way.
    gap = exact.gather(1, best[:, None]) - exact.gather(1, chosen[:, None])
    assert torch.all((chosen == best) | (gap.squeeze(1) <= 1e-5)), (chosen, best, gap)
    # Where a row's token is re-scored its logit is float32's.
    assert torch.allclose(screened.gather(1, chosen[:, None]), exact.gather(1, chosen[:, None]),
                          atol=1e-4)


def test_flat_rows_reach_every_tier_and_finished_rows_are_left_in_bf16():
    weight, hidden = _layer(0, 20_000, 64, 0)
    hidden[0] = 0.0                            # every token ties: the float32 fallback
    hidden[1] = weight[:CANDIDATES[0] * 2].mean(0) * 1e-2   # hundreds of candidates: tier 2
    exact = hidden.reshape(-1, 64) @ weight.T
    low, norm = weight.to(torch.bfloat16), float(weight.norm(dim=1).max())
    screened = screened_logits(hidden, weight, low, norm).reshape(exact.shape)
    assert torch.equal(screened[0], exact[0])
    assert screened[1].argmax() == exact[1].argmax() or \
        exact[1].max() - exact[1][screened[1].argmax()] <= 1e-5
    done = torch.tensor([True] + [False] * 7)
    left = screened_logits(hidden, weight, low, norm, done).reshape(exact.shape)
    assert torch.equal(left[0], (hidden[0] @ low.T.float()).squeeze(0)) or \
        torch.equal(left[0], (hidden[0].to(torch.bfloat16) @ low.T).float().squeeze(0))
    assert torch.equal(left[2:], screened[2:])


def test_a_dense_cluster_at_the_top_is_rescored_beyond_the_first_tier():
    """3,000 tokens whose float32 logits lie within ~1e-4 of each other while bf16's rounding
    of each product moves them by about as much: bf16 ranks them at random, so the float32
    winner is usually outside bf16's top 64. The error bound must send the row to the next
    tier (a margin of zero does not: this test fails with one)."""
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(64, generator=g)
    hidden /= hidden.norm()
    common = torch.randn(64, generator=g)
    common -= (common @ hidden) * hidden            # orthogonal: large products, logit ~0
    common /= common.norm()
    cluster = common + 2e-5 * torch.randn(3000, 64, generator=g)
    weight = torch.cat([cluster, torch.randn(20_000, 64, generator=g) * 1e-6])
    exact = weight @ hidden
    approx = (weight.to(torch.bfloat16) @ hidden.to(torch.bfloat16)).float()
    assert int((approx > approx[exact.argmax()]).sum()) >= CANDIDATES[0]   # the case tested
    screened = screened_logits(hidden.reshape(1, 1, 64), weight, weight.to(torch.bfloat16),
                               float(weight.norm(dim=1).max())).reshape(-1)
    assert screened.argmax() == exact.argmax()


@pytest.fixture(scope="module")
def smollm2(_test_cache_dir):
    from lmgate.models.load import load_model

    return load_model("smollm2-135m-instruct", "prompting", RunCache(_test_cache_dir),
                      device="cpu")


def test_generations_equal_float32_with_and_without_screening(smollm2, monkeypatch):
    """Screening runs only on CPUs with native bf16; forced on here (bf16 products are
    emulated elsewhere: slower, the same numbers), it must leave every generation as float32
    makes it, through finished rows, newline stops and both generation paths."""
    from lmgate.models.engines.engine import generate_from_ids, greedy_generate

    prompts = [f"Translate German to French.\nGerman: {s}\nFrench:" for s in (
        "Ein Hund läuft im Park.", "Zwei Frauen sitzen auf einer Bank und lesen.",
        "Ein Junge spielt Fußball.", "Die Sonne scheint.", "Ein Mann kocht in der Küche.")]
    runs = {}
    for on in (False, True):
        monkeypatch.setattr(screened_head, "cpu_has_native_bf16", lambda: on)
        assert screened_head.screening_applies(smollm2.model, "cpu") is on
        ids = [smollm2.tokenizer(p)["input_ids"] for p in prompts]
        runs[on] = (greedy_generate(smollm2, prompts, batch_size=3, max_new_tokens=24),
                    greedy_generate(smollm2, prompts, batch_size=5, max_new_tokens=12,
                                    stop_at_newline=False),
                    generate_from_ids(smollm2, ids, max_new_tokens=12, batch_size=5))
    assert runs[True] == runs[False]
    assert any(len(set(out)) > 1 for out in runs[True])    # not one empty answer repeated
    assert smollm2.model.get_output_embeddings().forward.__self__ is \
        smollm2.model.get_output_embeddings()              # the layer's own forward again
