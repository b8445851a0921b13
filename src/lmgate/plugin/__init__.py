"""The lmgate pytest plugin, registered in every project that installs lmgate (pytest11).

One module per concern, each a plugin of its own:

- `options`: the lmgate option group and ini keys, parsed into the session's settings;
- `selection`: derived markers, --lmgate-lang/--lmgate-model selection, profile-driven
  parametrisation;
- `session`: the settings a session decided (`Settings`);
- `recording`: the `record` fixture and the transport of records from xdist workers;
- `collector`: the controller side: gathers records and verdicts, writes the results;
- `gating`: the baseline read before any test, compared or written at the end;
- `terminal`: lmgate's lines in the terminal summary;
- `fixtures`: the fixtures every experiment uses (finetune, zero_shot, causal_lm, ...);
- `claims`: failed claims of a dry-run profile, or of a study's `unpowered` list, reported as
  xfailed (code errors still fail);
- `plan`: `--lmgate-plan`, the models a selection needs and their memory, before any run;
- `prefetch`: those models fetched, converted and dequantised in a background process while
  the first tests run (`--lmgate-no-prefetch`);
- `scaleout`: xdist workers pinned to GPUs (or splitting CPU cores), model groups, shards;
- `progress`: one progress line for all xdist workers, printed by the controller;
- `tracking`: `--lmgate-track`: the run logged to MLflow or another tracker;
- `redaction`: every report pytest prints or writes to JUnit XML with its secrets masked.

The modules only hold hooks and fixtures; the work is done by modules that know nothing of
pytest, so the library works from a notebook too.
"""

pytest_plugins = [
    "lmgate.plugin.options",
    "lmgate.plugin.selection",
    "lmgate.plugin.recording",
    "lmgate.plugin.collector",
    "lmgate.plugin.fixtures",
    "lmgate.plugin.claims",
    "lmgate.plugin.plan",
    "lmgate.plugin.prefetch",
    "lmgate.plugin.scaleout",
    "lmgate.plugin.progress",
    "lmgate.plugin.tracking",
    "lmgate.plugin.redaction",
]
