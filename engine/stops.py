"""Stop a training run with one line: the exception hooks raise, and the wrapper launchers use."""
import sys


class RunStopped(RuntimeError):
    """A run that must not go on (too many unreadable files, non-finite losses, a failed checkpoint
    write). The message is one line: what happened, where, and what to do."""


def train_or_stop(runner):
    """``runner.train()``; a ``RunStopped`` ends the process with its one line and exit code 1."""
    from .preemption import restore_handlers
    try:
        return runner.train()
    except RunStopped as stop:
        print(f'error: {stop}', file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        restore_handlers()
