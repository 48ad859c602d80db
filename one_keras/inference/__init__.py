"""Labelling images with a deployed model in any exported format."""
