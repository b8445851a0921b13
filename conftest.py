"""Root conftest: this repository's study-specific fixtures (lmgate's own arrive through its
pytest11 entry point)."""

pytest_plugins = ["fixtures.metrics", "fixtures.sentiment", "fixtures.parliament",
                  "fixtures.sst2", "fixtures.squad", "fixtures.translation"]
