"""Typed errors for mistakes a user can fix; the CLI prints their message as one line."""


class EdgepipeError(Exception):
    """Base class for every error that the CLI reports without a traceback."""


class ConfigError(EdgepipeError, ValueError):
    """A configuration field or command-line option has an invalid value."""


class DataError(EdgepipeError):
    """A data set is missing or its files are malformed."""


class TargetError(EdgepipeError):
    """A target profile is unknown or malformed."""


class BudgetError(EdgepipeError):
    """A byte budget is malformed or cannot be met."""


class TrainingError(EdgepipeError):
    """Training diverged, for example to a non-finite loss."""


class ExportError(EdgepipeError):
    """An export or a runtime check of an artifact failed."""
