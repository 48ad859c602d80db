"""`python -m one_keras.evaluate`: the `one-evaluate` command
(`one_keras.cli.evaluate`)."""

from one_keras.cli import evaluate as command

__doc__ = command.__doc__  # absl's `--help` shows the command's usage.

if __name__ == "__main__":
    command.console_main()
