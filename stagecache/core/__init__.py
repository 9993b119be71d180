"""The engine's groundwork: hooks, points, range checks, settings, the environment record, signals."""
