"""User-facing errors: raised for bad input or config, reported without a traceback."""


class MlgateError(Exception):
    """An error caused by the user's input or configuration; the message says what to fix."""


class ConfigError(MlgateError):
    """A key in params.yaml / conf/ is missing or has a bad value."""


class DataError(MlgateError):
    """An input file or table is missing, unreadable or malformed."""


# The model's own steps (mlgate.core.model_steps, pickled by value into every logged model)
# raise this when a declared feature rule cannot be applied to a batch. A model loaded from a
# pickle carries its own copy of the class, so it is recognised by name.
FEATURE_ERROR = "FeatureError"


def is_user_error(exc: BaseException) -> bool:
    """An MlgateError, or a feature rule of the model refusing its input (see FEATURE_ERROR)."""
    return isinstance(exc, MlgateError) or (
        isinstance(exc, ValueError) and type(exc).__name__ == FEATURE_ERROR)
