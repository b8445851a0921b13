"""Exceptions shared by every lmgate module.

`Unavailable` means "a resource this experiment needs is not on this machine" (no data, no
weights, no GPU): the pytest plugin turns it into a skip carrying the message. Everything else
is a real error in the user's input and fails loudly.
"""

from __future__ import annotations

from lmgate.core.redact import redact


class LmgateError(Exception):
    """Base class of lmgate's errors. Their text is redacted (`lmgate.core.redact`): a key,
    a URL's password or an Authorization header a server echoed never reaches a terminal or
    a JUnit file through an error."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class DataError(LmgateError, ValueError):
    """Input data is malformed: missing column, unknown label, empty text or split."""


class ConfigError(LmgateError, ValueError):
    """A setting, profile or model spec is invalid."""


class Unavailable(LmgateError, RuntimeError):
    """A resource is not available offline; the message says what was tried and how to provide it."""


class DataUnavailable(Unavailable):
    """A data set cannot be found locally and the hub is unreachable."""


class ModelUnavailable(Unavailable):
    """Model weights cannot be found locally and the hub is unreachable."""
