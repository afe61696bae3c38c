"""Command line entry point (``rigbook``)."""

import sys


def main(argv=None):
    print("rigbook: the application is not built yet.", file=sys.stderr)
    return 1
