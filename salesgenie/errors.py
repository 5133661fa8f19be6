"""The one exception type users see: its message is the whole, one-line explanation."""


class SalesgenieError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""
