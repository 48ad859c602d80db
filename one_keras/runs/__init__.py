"""A training run's directory (`RunDirectory`) and the state it resumes
from (`ResumeState`)."""

from one_keras.runs.directory import RunDirectory
from one_keras.runs.state import ResumeState

__all__ = ["ResumeState", "RunDirectory"]
