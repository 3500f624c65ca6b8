"""One-line messages: a short list of names, an exception in one line, and a clean stop without a
traceback."""
import sys


def short_list(items, limit=6):
    """``[a, b, c] (+N more)``: enough of a list to name the problem in one line."""
    items = list(items)
    more = f' (+{len(items) - limit} more)' if len(items) > limit else ''
    return '[' + ', '.join(map(str, items[:limit])) + ']' + more


def first_line(err):
    """The first non-empty line of an exception's message (its type's name when it has none)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def typed_line(err):
    """``Type: first line of the message`` (``Type`` alone when it has none)."""
    line = first_line(err)
    return line if line == type(err).__name__ else f'{type(err).__name__}: {line}'


def fail(message, code=2):
    """Stop with one line on stderr (no traceback) before anything is written."""
    print(f'error: {message}', file=sys.stderr, flush=True)
    sys.exit(code)
