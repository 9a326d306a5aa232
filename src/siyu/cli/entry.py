"""``python -m siyu.cli.entry``: the CLI without relying on the installed console script."""

from siyu.cli import main

if __name__ == "__main__":
    main()
