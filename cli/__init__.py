"""The `sarvanom` command line (installed as the `sarvanom_cli` package)."""
