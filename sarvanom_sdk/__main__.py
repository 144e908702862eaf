"""``python -m sarvanom_sdk``: the ``sarvanom`` command line."""

from sarvanom_cli.main import main  # type: ignore[import-not-found, unused-ignore]

main()
