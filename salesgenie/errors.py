"""The one exception type users see: its message is the whole, one-line explanation."""


class SalesgenieError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


def first_line(error: object) -> str:
    """A library's own explanation without the detail or stack traces some append below it."""
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__
