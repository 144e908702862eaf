"""``python -m sarvanom_cli.bench``: the same as the ``sarvanom-bench`` console script."""

from .command import main

main()
