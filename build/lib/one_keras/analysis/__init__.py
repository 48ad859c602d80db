"""Analyses of trained models (the paper's Fig. 3 flatness test)."""
