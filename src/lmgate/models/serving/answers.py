"""What lmgate accepts from an OpenAI-compatible server.

Every answer the endpoint client reads passes through here before it is used or cached: a
2xx JSON object without an `error`, in the shape its route promises (a model listing, a choice
with text, an echoed prompt's log-probabilities with lists of one length, for the very prompt
sent). Anything else is an `EndpointError` naming the server and what was wrong, never an
IndexError or TypeError from deep inside scoring, never a score of another text's tokens, and
never an entry in the run cache.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from lmgate.core.errors import LmgateError
from lmgate.models.serving.echo import offsets_agree, token_starts

#: Largest response body read (a listing or an echoed prompt is far smaller).
MAX_BODY_BYTES = 64 * 1024 * 1024
LOGPROB_LISTS = ("tokens", "token_logprobs", "top_logprobs", "text_offset")


class EndpointError(LmgateError):
    """A server that answered with an error or a malformed answer, or could not be reached
    after the retries."""


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except (ValueError, RecursionError):
        text = repr(type(value))
    return " ".join(text.split())[:200]


def parse_body(where: str, status: int, content: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx answer that carries no `error`."""
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError):
        raise EndpointError(f"{where} answered {status} with something that is not JSON") from None
    if not isinstance(answer, dict):
        raise EndpointError(f"{where} answered {status} with JSON that is not an object: "
                            f"{_short(answer)}")
    if answer.get("error") is not None:
        raise EndpointError(f"{where} answered {status} with an error: {_short(answer['error'])}")
    return answer


def listed_models(where: str, answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries of a `/models` listing, each an object with a string `id`."""
    data = answer.get("data")
    if not isinstance(data, list) or not all(
            isinstance(m, dict) and isinstance(m.get("id"), str) for m in data):
        raise EndpointError(f"{where}: a model listing must be {{\"data\": [{{\"id\": ...}}, ...]}}"
                            f", got {_short(answer)}")
    for m in data:
        if m.get("root") is not None and not isinstance(m["root"], str):
            raise EndpointError(f"{where}: model {m['id']!r} has a root that is not a string")
    return data


def _first_choice(where: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise EndpointError(f"{where}: an answer without choices: {_short(answer)}")
    return choices[0]


def choice_text(where: str, answer: Mapping[str, Any], chat: bool) -> str:
    """The generated text of the first choice (a chat message's content, or a completion's
    text); a chat message without content is an empty answer."""
    choice = _first_choice(where, answer)
    if chat:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not (text is None or isinstance(text, str)):
            raise EndpointError(f"{where}: a chat answer without a message: {_short(choice)}")
        return text or ""
    if not isinstance(choice.get("text"), str):
        raise EndpointError(f"{where}: a completion without text: {_short(choice)}")
    return choice["text"]


def _number(value: Any) -> bool:
    """A log-probability: a number (-inf allowed) no greater than 0, give or take rounding."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        value = float(value)
    except OverflowError:   # an integer beyond any float
        return False
    return not math.isnan(value) and value <= 1e-3


def prompt_logprobs(where: str, answer: Mapping[str, Any], prompt: str) -> dict[str, list] | None:
    """The echoed prompt's log-probabilities (tokens, token_logprobs, top_logprobs,
    text_offset: lists of one length, the last entry the one generated token, and `starts`:
    each prompt token's byte offset in `prompt`), or None where the server sent none (it
    cannot score prompts). A block that is there but malformed, or that echoes another text
    than `prompt`, is an error."""
    choice = _first_choice(where, answer)
    block = choice.get("logprobs")
    if block is None:
        return None
    bad = f"{where}: malformed prompt log-probabilities"
    if not isinstance(block, dict) or any(not isinstance(block.get(k), list)
                                          for k in LOGPROB_LISTS):
        raise EndpointError(f"{bad}: expected the lists {', '.join(LOGPROB_LISTS)}, got "
                            f"{_short(block)}")
    lengths = {k: len(block[k]) for k in LOGPROB_LISTS}
    if len(set(lengths.values())) != 1 or lengths["text_offset"] < 2:
        raise EndpointError(f"{bad}: the lists' lengths differ or leave no prompt token "
                            f"({lengths})")
    offsets = block["text_offset"]
    if not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets) \
            or any(b < a for a, b in zip(offsets, offsets[1:])):
        raise EndpointError(f"{bad}: text_offset must be non-decreasing character offsets, "
                            f"got {_short(offsets)}")
    if not all(lp is None or _number(lp) for lp in block["token_logprobs"]):
        raise EndpointError(f"{bad}: token_logprobs holds something that is not a "
                            f"log-probability: {_short(block['token_logprobs'])}")
    for top in block["top_logprobs"]:
        if top is not None and not (isinstance(top, dict)
                                    and all(_number(v) for v in top.values())):
            raise EndpointError(f"{bad}: top_logprobs holds something that is not a table of "
                                f"log-probabilities: {_short(top)}")
    return {**{k: block[k] for k in LOGPROB_LISTS},
            "starts": _echoed_prompt(where, choice, block, prompt)}


def _echoed_prompt(where: str, choice: Mapping[str, Any], block: Mapping[str, list],
                   prompt: str) -> list[int]:
    """Each prompt token's byte offset in `prompt`, once the echo is shown to be of `prompt`:
    the choice's text (prompt + generated text, as echo promises) and the tokens before the
    generated one spell it, and text_offset agrees with the tokens."""
    text, tokens = choice.get("text"), block["tokens"]
    if text is not None and not (isinstance(text, str) and text.startswith(prompt)):
        raise EndpointError(f"{where}: the echoed text is not the prompt sent: sent "
                            f"{_short(prompt)}, echoed {_short(text)}")
    if not all(isinstance(t, str) for t in tokens):
        raise EndpointError(f"{where}: malformed prompt log-probabilities: tokens must be "
                            f"strings, got {_short(tokens)}")
    starts = token_starts(prompt, tokens[:-1], block["token_logprobs"][0] is None)
    if starts is None:
        raise EndpointError(f"{where}: the echoed tokens spell another text than the prompt "
                            f"sent: sent {_short(prompt)}, echoed {_short(tokens[:-1])}")
    if not offsets_agree(prompt, tokens[:-1], starts, block["text_offset"]):
        raise EndpointError(f"{where}: text_offset does not place the echoed tokens in the "
                            f"prompt sent: {_short(block['text_offset'])} for "
                            f"{_short(tokens[:-1])}")
    return starts


def continuation_score(where: str, answer: Mapping[str, Any], prompt: str,
                       context_chars: int) -> tuple[float, bool]:
    """Sum of log-probabilities of the tokens of echoed `prompt` after its first
    `context_chars` characters, and whether each was the most likely token (the one generated
    token at the end excluded)."""
    block = prompt_logprobs(where, answer, prompt)
    if block is None:
        raise EndpointError(f"{where}: an echo answer without prompt log-probabilities")
    starts, logprobs, tops = block["starts"], block["token_logprobs"], block["top_logprobs"]
    prompt_tokens = len(starts)               # echo + max_tokens=1: the last one is generated
    context_bytes = len(prompt[:context_chars].encode("utf-8", "surrogatepass"))
    start = next((i for i in range(prompt_tokens) if starts[i] >= context_bytes), prompt_tokens)
    if start in (0, prompt_tokens):
        raise EndpointError(f"{where}: the continuation's tokens could not be told from the "
                            "context's in the echoed prompt")
    if any(logprobs[i] is None for i in range(start, prompt_tokens)):
        raise EndpointError(f"{where}: a continuation token without a log-probability in "
                            f"{_short(logprobs)}")
    total, greedy = 0.0, True
    for i in range(start, prompt_tokens):
        total += float(logprobs[i])
        top = tops[i] or {}
        if top and max(top.values()) > float(logprobs[i]) + 1e-6:
            greedy = False
    return total, greedy


#: The most tokens one answer's usage may report: the largest integer every JSON reader holds
#: exactly. Past it a count is no count (a price times 1e400 tokens raised OverflowError).
MAX_TOKENS = 2**53 - 1


def reported_usage(answer: Mapping[str, Any]) -> tuple[int, int] | None:
    """(prompt tokens, completion tokens) that an accepted answer's `usage` reports; None when
    it has none or one of another shape (counts must be integers from 0 to MAX_TOKENS,
    not booleans).
    A server owes no usage: its absence is remembered by the caller, never an error."""
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= MAX_TOKENS
               for c in (prompt, completion)):
        return None
    return prompt, completion


def server_message(response: Any) -> str:
    """The error text a server sent, short, on one line."""
    try:
        body = response.json()
        message = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(message, dict):
            message = message.get("message", message)
        text = message if isinstance(message, str) else json.dumps(message)
    except ValueError:
        text = response.text
    return " ".join(str(text).split())[:300]
