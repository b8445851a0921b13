"""Profiles: named bundles of training defaults plus each study's free-form knobs.

lmgate ships two generic profiles and knows no study:

- `smoke`: CPU, minutes (short sequences, a larger learning rate for few steps);
- `paper`: the usual fine-tuning defaults for a GPU run.

A project declares its own in pyproject.toml; a table named like a built-in extends it, any
other names what it `extends` (a built-in or another project profile):

    [tool.lmgate.profiles.smoke.train]       # overrides of the built-in smoke training defaults
    epochs = 2
    [tool.lmgate.profiles.smoke.studies.reviews]
    model = "tiny-encoder"
    train_sizes = [30, 200]

    [tool.lmgate.profiles.nightly]
    extends = "paper"

A test reads its study's knobs through the `knobs` fixture (see lmgate.plugin.fixtures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from lmgate.core.errors import ConfigError
from lmgate.core.config import DATA_SOURCES, LoraSettings, TrainConfig
from lmgate.core.pyproject import section


class Knobs(Mapping[str, Any]):
    """One study's knobs in one profile: read-only, by key or attribute, with a clear error.

    >>> knobs = Knobs("reviews", "smoke", {"train_sizes": [30, 200]}, TrainConfig())
    >>> knobs.train_sizes
    (30, 200)
    """

    def __init__(self, study: str, profile: str, values: Mapping[str, Any],
                 train_defaults: TrainConfig) -> None:
        self._study, self._profile = study, profile
        self._values = MappingProxyType({k: _frozen(v) for k, v in values.items()})
        self._train = train_defaults

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise ConfigError(f"profile {self._profile!r} has no knob {key!r} for study "
                              f"{self._study!r}; its knobs: {sorted(self._values)}") from None

    def get(self, key: str, default: Any = None) -> Any:
        """The knob's value, or `default` when this profile leaves it out."""
        return self._values.get(key, default)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Knobs({self._study!r}, profile={self._profile!r}, {dict(self._values)})"

    def train_config(self, key: str | None = None) -> TrainConfig:
        """The profile's training defaults, with the overrides of knob `key` (a table) applied."""
        overrides = {} if key is None else dict(self[key])
        try:
            return self._train.replace(**overrides)
        except ConfigError as exc:
            raise ConfigError(f"profile {self._profile!r}, study {self._study!r}, knob "
                              f"{key!r}: {exc}") from None


def _frozen(value: Any) -> Any:
    """TOML arrays become tuples (hashable, usable as parametrize values); tables stay mappings."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value


@dataclass(frozen=True)
class Profile:
    """A named bundle of defaults: a training config plus per-study knobs."""

    name: str
    train: TrainConfig
    studies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "built-in"
    #: "assert": a claim that fails fails its test. "xfail": a dry run (stand-in models with
    #: random weights): a failed claim is reported as xfailed, any other error still fails.
    claims: str = "assert"
    description: str = ""

    def study(self, name: str) -> Knobs:
        """Knobs of one study in this profile (read-only)."""
        if name not in self.studies:
            raise ConfigError(f"profile {self.name!r} ({self.source}) has no settings for study "
                              f"{name!r}; it has: {sorted(self.studies) or 'none'}. Declare them "
                              f"under [tool.lmgate.profiles.{self.name}.studies.{name}]")
        return Knobs(name, self.name, self.studies[name], self.train)


BUILTIN: dict[str, Profile] = {
    # A small pretrained encoder needs a larger learning rate than 2e-5 to move in few steps.
    "smoke": Profile("smoke", TrainConfig(epochs=3, learning_rate=1e-4, batch_size=16,
                                          max_length=64, early_stopping_patience=2)),
    "paper": Profile("paper", TrainConfig(epochs=5, learning_rate=2e-5, batch_size=32,
                                          max_length=128, early_stopping_patience=3)),
}
PROFILE_KEYS = ("extends", "description", "train", "studies", "claims")
CLAIM_MODES = ("assert", "xfail")


#: What a study knob can declare itself to be in `[tool.lmgate.knob_types]` (e.g.
#: `head_train = "train"`, `lora = "lora"`): such knobs are checked with lmgate's own settings
#: types when the profiles load, so a typo fails before any test runs, not at the first training.
KNOB_TYPES = {"train": TrainConfig, "lora": LoraSettings}


def checked_knob_types(table: Any, source: str) -> dict[str, str]:
    """`[tool.lmgate.knob_types]`: knob name -> one of KNOB_TYPES."""
    if not isinstance(table, Mapping) or not all(
            isinstance(k, str) and v in KNOB_TYPES for k, v in table.items()):
        raise ConfigError(f"[tool.lmgate.knob_types] in {source} must map knob names to one of "
                          f"{sorted(KNOB_TYPES)}, not {dict(table) if isinstance(table, Mapping) else table!r}")
    return dict(table)


def _check_typed_knob(study: str, name: str, value: Any, kind: str) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"studies.{study}: knob {name} must be a table of {kind} settings, "
                          f"not {value!r}")
    try:
        KNOB_TYPES[kind]().replace(**{k: _frozen(v) for k, v in value.items()})
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"studies.{study}: knob {name} ({kind} settings): {exc}") from None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any],
           knob_types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Per-study knobs of `over` replace those of `base` key by key; knobs `knob_types`
    names are checked as those settings."""
    merged = {study: dict(knobs) for study, knobs in base.items()}
    for study, knobs in over.items():
        if not isinstance(knobs, Mapping):
            raise ConfigError(f"studies.{study} must be a table of knobs, not {knobs!r}")
        unpowered_claims(study, knobs.get("unpowered", {}))
        for name, kind in (knob_types or {}).items():
            if name in knobs:
                _check_typed_knob(study, name, knobs[name], kind)
        merged.setdefault(study, {}).update(knobs)
    return merged


@dataclass(frozen=True)
class UnpoweredClaim:
    """An entry of a study's `unpowered` knob (lmgate.plugin.claims): the measured reason,
    and the data sources (`DATA_SOURCES`) it was measured on; None: whatever the data."""

    reason: str
    sources: tuple[str, ...] | None = None


def unpowered_claims(study: str, table: Any) -> dict[str, UnpoweredClaim]:
    """The `unpowered` knob read: test key -> a reason, or a table `{ reason = "...", sources =
    ["local", "hub"] }` (unpowered only on data from those sources); ConfigError otherwise."""
    usage = (f"studies.{study}: knob unpowered must be a table of \"test_name[param values]\" = "
             f"\"measured reason\" or = {{ reason = \"...\", sources = [...] }} (sources from "
             f"{list(DATA_SOURCES)})")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{usage}, not {table!r}")
    claims = {}
    for key, entry in table.items():
        if isinstance(entry, Mapping):
            reason, sources = entry.get("reason"), entry.get("sources")
            if set(entry) - {"reason", "sources"} or not isinstance(sources, (list, tuple)) \
                    or not sources or not all(s in DATA_SOURCES for s in sources):
                raise ConfigError(f"{usage}; {key!r} = {dict(entry)!r}")
            sources = tuple(sources)
        else:
            reason, sources = entry, None
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{usage}; {key!r} has no reason: {entry!r}")
        claims[key] = UnpoweredClaim(reason, sources)
    return claims


def profiles_from_tables(tables: Mapping[str, Any], source: str,
                         knob_types: Mapping[str, str] | None = None) -> dict[str, Profile]:
    """Built-in profiles extended/added by `[tool.lmgate.profiles.*]` tables (study knobs
    named in `knob_types` checked as those settings).

    `extends = "x"` means the profile the project calls x: its own table when it has one
    (wherever in the file), else the built-in x. A table named like a built-in and without
    `extends` extends that built-in. The result does not depend on the tables' order, and
    errors are found in name order, so the same tables give the same error."""
    parents = {name: _parent(name, tables[name], source) for name in sorted(tables)}
    profiles = dict(BUILTIN)
    done: set[str] = set()
    for name in sorted(tables):
        chain = [name]            # name, its parent, the parent's parent... down to a known one
        while True:
            parent = parents[chain[-1]]
            if parent is None or parent in done or (
                    parent == chain[-1] and parent in BUILTIN) or parent not in tables:
                break
            if parent in chain:
                cycle = chain[chain.index(parent):] + [parent]
                raise ConfigError(f"profiles in {source} extend each other in a cycle: "
                                  f"{' -> '.join(cycle)}" if len(cycle) > 2 else
                                  f"[tool.lmgate.profiles.{parent}] in {source} extends itself")
            chain.append(parent)
        for child in reversed(chain):
            parent = parents[child]
            if parent is not None and parent not in tables and parent not in BUILTIN:
                raise ConfigError(f"[tool.lmgate.profiles.{child}] in {source}: extends unknown "
                                  f"profile {parent!r}; known: "
                                  f"{sorted(set(BUILTIN) | set(tables))}")
            base = (BUILTIN[parent] if parent == child or parent not in tables else
                    profiles[parent]) if parent is not None else Profile(child, TrainConfig())
            profiles[child] = _profile(child, tables[child], base, source, knob_types)
            done.add(child)
    return profiles


def _parent(name: str, table: Any, source: str) -> str | None:
    """The name table `name` extends (None: none), after checking the table's keys."""
    where = f"[tool.lmgate.profiles.{name}] in {source}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {list(PROFILE_KEYS)}"
                          " (study knobs go under .studies.<study>)")
    parent = table.get("extends", name if name in BUILTIN else None)
    if parent is not None and not isinstance(parent, str):
        raise ConfigError(f"{where}: extends must be a profile name, not {parent!r}")
    return parent


def _profile(name: str, table: Mapping[str, Any], base: Profile, source: str,
             knob_types: Mapping[str, str] | None) -> Profile:
    """Profile `name`: `base` with the settings of its table applied."""
    where = f"[tool.lmgate.profiles.{name}] in {source}"
    train = table.get("train", {})
    if not isinstance(train, Mapping):
        raise ConfigError(f"{where}: train must be a table of training settings")
    try:
        train_config = base.train.replace(**train)
    except ConfigError as exc:
        raise ConfigError(f"{where}.train: {exc}") from None
    studies = table.get("studies", {})
    if not isinstance(studies, Mapping):
        raise ConfigError(f"{where}: studies must be a table of study tables "
                          f"([tool.lmgate.profiles.{name}.studies.<study>]), not {studies!r}")
    claims = table.get("claims", base.claims)
    if claims not in CLAIM_MODES:
        raise ConfigError(f"{where}: claims must be one of {CLAIM_MODES}, not {claims!r}")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string")
    try:
        merged = _merge(base.studies, studies, knob_types)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Profile(name, train_config, merged, source, claims, description)


def load_profiles(pyproject: str | Path | None) -> dict[str, Profile]:
    """The built-in profiles plus those a project's pyproject.toml declares."""
    tables = section(pyproject, "profiles")
    knob_types = checked_knob_types(section(pyproject, "knob_types") or {}, str(pyproject))
    return profiles_from_tables(tables, str(pyproject), knob_types) if tables else dict(BUILTIN)


def get_profile(name: str, profiles: Mapping[str, Profile] | None = None) -> Profile:
    """Look up a profile by name, with an error naming the known ones."""
    profiles = BUILTIN if profiles is None else profiles
    try:
        return profiles[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; choose one of {sorted(profiles)}") from None
