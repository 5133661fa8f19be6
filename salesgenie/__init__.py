"""salesgenie: ask questions of sales forecasts in plain language."""

__version__ = "0.1.0"
