"""Stop a training run with one line: the exception hooks raise (``launch.train_or_stop`` turns it
into one line and exit code 1)."""


class RunStopped(RuntimeError):
    """A run that must not go on (too many unreadable files, non-finite losses, a failed checkpoint
    write). The message is one line: what happened, where, and what to do."""
