"""One-line messages: a short list of names, and a clean stop without a traceback."""
import sys


def short_list(items, limit=6):
    """``[a, b, c] (+N more)``: enough of a list to name the problem in one line."""
    items = list(items)
    more = f' (+{len(items) - limit} more)' if len(items) > limit else ''
    return '[' + ', '.join(map(str, items[:limit])) + ']' + more


def fail(message, code=2):
    """Stop with one line on stderr (no traceback) before anything is written."""
    print(f'error: {message}', file=sys.stderr, flush=True)
    sys.exit(code)
