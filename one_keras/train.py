"""`python -m one_keras.train`: the `one-train` command
(`one_keras.cli.train`)."""

from one_keras.cli import train as command

__doc__ = command.__doc__  # absl's `--help` shows the command's usage.

if __name__ == "__main__":
    command.console_main()
