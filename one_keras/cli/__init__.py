"""The command line tools: train, evaluate, predict, export, flatness, plot."""
