"""The one error of checkpoint reading and loading (its own module so that every reader raises it)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded as asked; the message says why and what to do."""
