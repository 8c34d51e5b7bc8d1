"""What every geoperc command shares: one way to report user errors and interruptions.

:func:`run` calls a command's ``main(argv)``; a :class:`~geoperc.errors.GeoPercError` (bad input: a
file, a setting, a scene) becomes one line ``<prog>: error: <message>`` on stderr and exit status 2;
Ctrl-C becomes one line (with ``resume_hint`` when the command can resume) and exit 130; every other
exception is a programming error and raises with its traceback.
"""
import sys
from typing import Callable, Optional, Sequence

from geoperc.errors import EXIT_USER_ERROR, GeoPercError

EXIT_INTERRUPTED = 130


def run(main: Callable[[Optional[Sequence[str]]], object], argv: Optional[Sequence[str]], prog: str,
        resume_hint: Optional[str] = None) -> int:
    """Run ``main(argv)`` under the error convention above; returns the exit status."""
    try:
        out = main(argv)
    except GeoPercError as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f'{prog}: interrupted' + (f'; {resume_hint}' if resume_hint else ''), file=sys.stderr)
        return EXIT_INTERRUPTED
    return out if isinstance(out, int) else 0
