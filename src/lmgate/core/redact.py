"""One redaction step for everything lmgate writes, prints or raises.

A secret never leaves lmgate: every file it writes (`lmgate.core.io`, the run cache's
metadata), every error it raises (`LmgateError`), every server answer it keeps (the endpoint
client) and every report pytest prints or puts in JUnit XML (the plugin's report hook) passes
through `redact`. What it masks (with `***`):

- the values of the environment variables that hold keys: the ones model tables name
  (`api_key_env`, registered with `register_env`), well-known ones (`OPENAI_API_KEY`,
  `HF_TOKEN`, `WANDB_API_KEY`, ...) and any whose name ends in a key word (`..._API_KEY`,
  `..._TOKEN`, `..._SECRET`, `..._PASSWORD`), also JSON-, HTML-, URL-escaped or in a repr,
  and any `FRAGMENT` characters in a row of one (a truncated repr shows its ends);
- the password in a URL's user-info (`postgresql://user:***@host/db`, up to the last `@`, as
  database drivers read an unescaped one; a user-info without a password is masked whole: it
  is usually a token);
- Authorization / API-key headers and fields (`Authorization: Bearer ***`,
  `"x-api-key": "***"`, `?api_key=***`) and key formats that announce themselves
  (`sk-...`, `hf_...`, `ghp_...`).

Values shorter than `MIN_SECRET` characters are not masked as bare text (they would mask
ordinary words); in a URL or a header they are.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import threading
from typing import Any, Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "***"
MIN_SECRET = 8
#: Characters in a row of a longer secret that are masked wherever they show.
FRAGMENT = 12

#: Variables that hold keys whatever their value looks like.
KNOWN_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "GOOGLE_API_KEY",
             "GEMINI_API_KEY", "MISTRAL_API_KEY", "TOGETHER_API_KEY", "GROQ_API_KEY",
             "COHERE_API_KEY", "VLLM_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
             "HUGGINGFACE_TOKEN", "WANDB_API_KEY", "MLFLOW_TRACKING_PASSWORD",
             "MLFLOW_TRACKING_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")
#: Other variables whose name says they hold a secret.
_SECRET_NAME = re.compile(r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|ACCESS_KEY)$", re.I)
#: Variables naming more variables to treat as secret (a launcher passes its registered
#: names to the processes it starts, e.g. the serve watchdog).
NAMES_ENV = "LMGATE_SECRET_ENV"

_URL_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s/?#@:\"'<>\\]*)"
    r"(?::(?P<password>[^\s\"'<>\\]*))?@")
#: A field's name may end a longer one joined by `_` (`openai_api_key=`, `db_password:`).
_FIELD = re.compile(
    r"(?i)(?P<key>(?<![A-Za-z0-9])(?:(?:proxy-)?authorization|x-api-key|x-goog-api-key"
    r"|api[-_]?key|(?:access|auth|refresh|id|bearer)[-_]?token|client[-_]?secret|password"
    r"|passwd))"
    r"(?P<sep>\\?[\"']?\s*[:=]\s*\\?[\"']?)"
    r"(?P<scheme>(?:bearer|basic|token|digest)\s+)?(?P<value>[^\s\"'\\,;&}\]<>]+)")
_JSON_LITERAL = re.compile(r"null|true|false|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_BEARER = re.compile(r"(?i)(?P<scheme>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=\-]{8,})")
#: A value already masked (`***` then no key character) is left alone: masking is idempotent.
_QUERY = re.compile(r"(?i)(?P<key>[?&](?:api[-_]?key|key|access[-_]?token|token|auth"
                    r"|password|signature|sig)=)(?!\*\*\*(?![\w\-.~%+/=]))(?P<value>[^&\s#\"'<>]+)")
_KEY_FORMATS = re.compile(r"\b(?:sk-[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{20,}"
                          r"|gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9\-]{10,})")

_lock = threading.Lock()
_names: set[str] = set()
_values: set[str] = set()


def register_env(name: str | None) -> None:
    """Treat the value of environment variable `name` as a secret (read when redacting, so a
    value set later is covered too)."""
    if name:
        with _lock:
            _names.add(str(name))


def register(value: str | None) -> None:
    """Treat `value` as a secret (a key lmgate read, a password from a URL it was given)."""
    if value and value.strip() and len(value) >= MIN_SECRET:
        with _lock:
            _values.update(_forms(value))


def register_url(url: str | None) -> None:
    """The password in `url`'s user-info (and a user-info that is a bare token)."""
    if not url:
        return
    try:
        parts = urlsplit(str(url))
        secret = parts.password if parts.password is not None else \
            (parts.username if parts.username and "@" in parts.netloc else None)
    except ValueError:
        return
    if secret:
        register(secret)
        register(unquote(secret))


def secret_env_names() -> list[str]:
    """The variables whose values are secrets: registered, well known, or so named."""
    with _lock:
        names = set(_names)
    names.update(n for n in os.environ.get(NAMES_ENV, "").split(",") if n)
    names.update(KNOWN_ENV)
    names.update(n for n in os.environ if _SECRET_NAME.search(n))
    return sorted(names)


def secrets() -> tuple[str, ...]:
    """Every secret value known now (registered values and the secret variables' values)."""
    with _lock:
        values = set(_values)
    for name in secret_env_names():
        value = os.environ.get(name)
        if value and value.strip() and len(value) >= MIN_SECRET:
            values.update(_forms(value))
    for name, value in os.environ.items():   # DATABASE_URL, PIP_INDEX_URL, a tracking URI
        if "://" in value and "@" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                continue
            if password and len(password) >= MIN_SECRET:
                values.update({password, unquote(password)})
    return tuple(sorted(values))


def _forms(value: str) -> set[str]:
    """`value`, and without the blanks around it (a key pasted with a newline) where that is
    still long enough to mask."""
    return {v for v in (value, value.strip()) if len(v) >= MIN_SECRET}


def _variants(secret: str) -> Iterable[str]:
    """How a secret appears once written: raw, escaped in JSON, HTML, a URL or a repr."""
    yield secret
    yield json.dumps(secret)[1:-1]
    yield json.dumps(secret, ensure_ascii=False)[1:-1]
    yield html.escape(secret)
    yield html.escape(secret, quote=False)
    yield html.escape(json.dumps(secret)[1:-1])
    yield repr(secret)[1:-1]
    yield quote(secret, safe="")
    yield quote_plus(secret)


@functools.lru_cache(maxsize=16)
def _values_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = {v for secret in values for v in _variants(secret) if len(v) >= MIN_SECRET}
    # A long key also shows in pieces: a repr cut in its middle ('sk-ab...89f0'), a line
    # wrapped. Every FRAGMENT characters of it in a row are masked too.
    forms |= {secret[i:i + FRAGMENT] for secret in values if len(secret) > FRAGMENT
              for i in range(len(secret) - FRAGMENT + 1) if secret[i:i + FRAGMENT].strip()}
    if not forms:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(forms, key=len, reverse=True)))


def _mask_userinfo(match: re.Match[str]) -> str:
    if match.group("password") is None:
        return f"{match.group('head')}{MASK}@" if match.group("user") else match.group(0)
    return f"{match.group('head')}{match.group('user')}:{MASK}@"


def _mask_field(match: re.Match[str]) -> str:
    value = match.group("value")
    sep = match.group("sep")
    json_literal = sep.startswith(("\"", "'", "\\")) and not sep.endswith(("\"", "'")) \
        and not match.group("scheme") and _JSON_LITERAL.fullmatch(value)
    if value == MASK or json_literal:
        return match.group(0)   # `"password": null` in JSON, a vocabulary's `"password": 12`
    return match.group("key") + match.group("sep") + (match.group("scheme") or "") + MASK


def redact(text: str) -> str:
    """`text` with every secret masked; text without one comes back unchanged."""
    if not isinstance(text, str) or not text:
        return text
    pattern = _values_pattern(secrets())
    # Masking can join the text around a secret into another copy of it: repeat until a pass
    # changes nothing (masks only shrink values to `***`, so this settles in a few passes).
    for _ in range(50):
        masked = _mask(text, pattern)
        if masked == text:
            break
        text = masked
    return text


def _mask(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is not None:
        text = pattern.sub(MASK, text)
    folded = None
    for regex, replace, needles, fold in _STEPS:
        if fold and folded is None:
            # What re's IGNORECASE matches: casefold, and the dotless i it pairs with "i".
            folded = text.casefold().replace("\u0131", "i")
        if any(needle in (folded if fold else text) for needle in needles):
            masked = regex.sub(replace, text)
            if masked != text:
                text, folded = masked, None
    return text


#: Each pattern with the texts it cannot match without: megabytes of results are scanned
#: for them at C speed, and the pattern runs only where one occurs.
_STEPS: tuple[tuple[re.Pattern[str], Any, tuple[str, ...], bool], ...] = (
    (_URL_USERINFO, _mask_userinfo, ("://",), False),
    (_FIELD, _mask_field, ("authorization", "api-key", "api_key", "apikey", "token", "secret",
                           "passw"), True),
    (_BEARER, lambda m: m.group("scheme") + MASK, ("bearer", "basic"), True),
    (_QUERY, lambda m: m.group("key") + MASK, ("key=", "token=", "auth=", "password=", "sig=",
                                                "signature="), True),
    (_KEY_FORMATS, MASK, ("sk-", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox"), False),
)


#: A mapping key whose value is a secret whatever it looks like: the fields `_FIELD` masks in
#: text, also at the end of a longer name (`openai_api_key`, `model_args.auth_token`). In a
#: table or a tracker the key and its value are apart (a column and its cells, a parameter's
#: name and value), where no text pattern sees them together.
_SECRET_KEY = re.compile(
    r"(?i)(?:.*[-_.])?(?:(?:proxy-)?authorization|x-api-key|x-goog-api-key|api[-_]?key"
    r"|(?:access|auth|refresh|id|bearer)[-_]?token|client[-_]?secret|password|passwd)"
    r"|token|secret")


def _secret_value(key: Any, value: Any) -> bool:
    """A text under a key that names a secret (numbers stay: a metric named `token`)."""
    return isinstance(key, str) and isinstance(value, str) and value not in ("", MASK) \
        and bool(_SECRET_KEY.fullmatch(key))


def masked_fields(value: Any) -> Any:
    """`value` (JSON-like) with the value of every key that names a secret (`api_key`,
    `password`, `auth_token`, ...) masked, at any depth; everything else as it was."""
    if isinstance(value, dict):
        return {k: MASK if _secret_value(k, v) else masked_fields(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(masked_fields(v) for v in value)
    return value


def redact_json(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings, numbers) with every string redacted and the
    value of every key that names a secret masked (`masked_fields`)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k:
                MASK if _secret_value(k, v) else redact_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_json(v) for v in value)
    return value


def redact_bytes(data: bytes) -> bytes:
    """`data` (a server's body, UTF-8 or not) with every secret masked."""
    text = data.decode("utf-8", "surrogateescape")
    masked = redact(text)
    return data if masked == text else masked.encode("utf-8", "surrogateescape")
