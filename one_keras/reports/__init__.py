"""What a run and an evaluation report: accuracies, costs, curves,
provenance."""
