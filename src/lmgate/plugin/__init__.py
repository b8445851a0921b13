"""The lmgate pytest plugin, registered in every project that installs lmgate (pytest11).

One module per concern, each a plugin of its own:

- `options`: the lmgate option group and ini keys, parsed into the session's settings;
- `selection`: derived markers, --lang/--model selection, profile-driven parametrisation;
- `recording`: the `record` fixture and the controller-side collector (exports, gate);
- `fixtures`: the fixtures every experiment uses (finetune, zero_shot, causal_lm, ...);
- `claims`: a dry-run profile's failed claims reported as xfailed (code errors still fail);
- `plan`: `--lmgate-plan`, the models a selection needs and their memory, before any run;
- `scaleout`: xdist workers pinned to GPUs (or splitting CPU cores), model groups, shards;
- `progress`: one progress line for all xdist workers, printed by the controller.

The modules only hold hooks and fixtures; the work is done by modules that know nothing of
pytest, so the library works from a notebook too.
"""

pytest_plugins = [
    "lmgate.plugin.options",
    "lmgate.plugin.selection",
    "lmgate.plugin.recording",
    "lmgate.plugin.fixtures",
    "lmgate.plugin.claims",
    "lmgate.plugin.plan",
    "lmgate.plugin.scaleout",
    "lmgate.plugin.progress",
]
