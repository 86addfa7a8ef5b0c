"""`python -m goodsflow ...` is the same as the `goodsflow` command."""

from goodsflow.cli import main

main()
