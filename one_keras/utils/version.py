"""The package's version, in one place (`one_keras.__version__`)."""

__version__ = "0.1.0"
