"""Errors of the local stack."""

from schemas import GoodsflowError


class StackError(GoodsflowError):
    """The local stack could not be started, checked or stopped; the message says why."""


class PortInUse(StackError):
    """A port the stack needs is taken by another process."""


class ToolMissing(StackError):
    """java or mvn is not installed or not on PATH."""
