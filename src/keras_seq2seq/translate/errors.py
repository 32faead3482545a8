"""The error the translation pipeline raises for bad input."""


class PipelineError(ValueError):
    """A problem with what the pipeline was given, not a bug: a missing or
    corrupt model directory, an empty or unreadable corpus, an invalid
    option. The message is one line that says what is wrong and, where it
    helps, what to do; the command line prints it without a traceback.

    Example:
    >>> try:
    ...     raise PipelineError("No model in 'runs/x': config.json is missing")
    ... except ValueError as error:
    ...     print(error)
    No model in 'runs/x': config.json is missing
    """
