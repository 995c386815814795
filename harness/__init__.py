"""The chaos harness: fault injection, scenarios, runner, load, gates, reports, CLI, pytest plugin."""
