"""A training run: its settings, data, strategy, callbacks and the
experiment."""
