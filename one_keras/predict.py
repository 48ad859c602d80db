"""`python -m one_keras.predict`: the `one-predict` command
(`one_keras.cli.predict`)."""

from one_keras.cli import predict as command

__doc__ = command.__doc__  # absl's `--help` shows the command's usage.

if __name__ == "__main__":
    command.console_main()
