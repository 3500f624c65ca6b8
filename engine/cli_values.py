"""Command-line values checked as they are parsed, every problem in one line (no usage block).

* ``OneLineParser``: an ``argparse.ArgumentParser`` whose errors are ``error: PROG: ...`` and exit 2;
* ``positive_int`` / ``non_negative_int``: 0 is a value, never "unset", and one that is not allowed
  is refused rather than replaced by a default;
* ``names(valid, what)``: a comma-separated list of known names; an unknown one is refused with the
  valid ones listed (``--sizes tinyy``, ``--rows bogus``);
* ``device``: a torch device that exists here (``--device cuda`` without a GPU is refused).
"""
import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    """Reports a bad command line in one line (argparse prints its whole usage block first)."""

    def error(self, message):
        print(f'error: {self.prog}: {message} (see --help)', file=sys.stderr, flush=True)
        sys.exit(2)


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number') from None


def positive_int(text):
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, not {value}')
    return value


def non_negative_int(text):
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, not {value}')
    return value


def names(valid, what='name'):
    """An argparse type: ``'a,b'`` -> ``['a', 'b']``, each one of ``valid``."""
    valid = list(valid)

    def parse(text):
        items = [item.strip() for item in str(text).split(',')]
        unknown = [item for item in items if item not in valid]
        if unknown:
            raise argparse.ArgumentTypeError(
                f'unknown {what} {", ".join(repr(u) for u in unknown)}; choose from {", ".join(valid)} '
                '(comma-separated)')
        return items
    parse.__name__ = what   # argparse names the type in its own messages
    return parse


def one_of(valid, what='name'):
    """An argparse type: exactly one name of ``valid``."""
    many = names(valid, what)

    def parse(text):
        items = many(text)
        if len(items) != 1:
            raise argparse.ArgumentTypeError(f'one {what} only, not {text!r}')
        return items[0]
    parse.__name__ = what
    return parse


def device(text):
    """A torch device string that this machine has (cpu, cuda, cuda:N, mps)."""
    import torch
    try:
        found = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f'{text!r} is not a device; use cpu, cuda or cuda:N') from None
    if found.type == 'cuda':
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f'{text}: no CUDA GPU is visible on this machine; use '
                                             '--device cpu (or check CUDA_VISIBLE_DEVICES / the driver)')
        count = torch.cuda.device_count()
        if found.index is not None and found.index >= count:
            raise argparse.ArgumentTypeError(f'{text}: this machine has {count} GPU(s), cuda:0 to '
                                             f'cuda:{count - 1}')
    elif found.type == 'mps' and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f'{text}: no Apple GPU (MPS) here; use --device cpu')
    elif found.type not in ('cpu', 'cuda', 'mps'):
        raise argparse.ArgumentTypeError(f'{text}: use cpu, cuda or cuda:N')
    return text
