"""Root conftest: load lmgate's shared experiment fixtures (the plugin itself is an entry point)."""

pytest_plugins = ["fixtures.data", "fixtures.models", "fixtures.prompting"]
