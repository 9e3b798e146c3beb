"""User-facing errors: raised for bad input or config, reported without a traceback."""


class MlgateError(Exception):
    """An error caused by the user's input or configuration; the message says what to fix."""


class ConfigError(MlgateError):
    """A key in params.yaml / conf/ is missing or has a bad value."""


class DataError(MlgateError):
    """An input file or table is missing, unreadable or malformed."""
