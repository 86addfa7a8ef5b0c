"""Root of goodsflow's exceptions.

Every error goodsflow raises on purpose derives from :class:`GoodsflowError`, so an
entry point (CLI, worker, API) can turn any of them into a clear message in one place.
It lives in schemas/ because schemas/ is the innermost package: everything may import it.
"""


class GoodsflowError(Exception):
    """Base of every error goodsflow raises on purpose."""


class InvalidEventError(GoodsflowError):
    """An event payload that is not JSON or breaks the event contract."""

    def __init__(self, reason: str, problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = problems or []


class UnknownReferenceError(GoodsflowError):
    """A checkpoint or locality id that is not in the reference registry."""
