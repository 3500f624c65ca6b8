"""A progress bar: tqdm when it is installed, else a plain one on stderr."""
import sys
import time


def progress(iterable, total, desc):
    try:
        from tqdm import tqdm
    except ImportError:
        return _plain(iterable, total, desc)
    return tqdm(iterable, total=total, desc=desc, unit='batch', dynamic_ncols=True)


def _plain(iterable, total, desc, width=30):
    start = time.monotonic()
    shown = -1
    for done, item in enumerate(iterable, 1):
        yield item
        step = done * width // max(total, 1)
        if step != shown or done == total:
            shown = step
            elapsed = time.monotonic() - start
            bar = '#' * step + '.' * (width - step)
            end = '\n' if done == total else '\r'
            print(f'{desc}: [{bar}] {done}/{total} batches, {elapsed:.0f} s', end=end,
                  file=sys.stderr, flush=True)
