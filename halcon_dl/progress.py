"""Progress of a training loop: one line per epoch, redrawn in place only on a terminal.

``Progress(stream)`` decides once how to show progress on ``stream``.  On a terminal
(``stream.isatty()`` is true) every ``update`` redraws the current line in place (a carriage
return, then the line padded over the previous one) with a bar of the steps done.  Anywhere
else (a log file, a pipe) ``update`` only keeps the state, and ``end_line`` writes it once as
a plain line, so a log gets one line per epoch and no control characters.
"""
from __future__ import annotations


def is_terminal(stream) -> bool:
    """True when ``stream`` is an open terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):   # no isatty, or a closed stream
        return False


class Progress:
    """``update(label, done, total, status)`` after each step, ``end_line()`` after each epoch."""

    BAR_WIDTH = 24

    def __init__(self, stream):
        self.stream = stream
        self.in_place = is_terminal(stream)
        self._line = ''       # the state of the open line; '' when no line is open
        self._drawn = 0       # characters of it already on the terminal

    def update(self, label: str, done: int, total: int, status: str = '') -> None:
        """The open line becomes ``label``, ``done``/``total`` steps and ``status``."""
        if self.in_place:
            filled = self.BAR_WIDTH * done // total
            self._line = (f'{label} [{"#" * filled}{"." * (self.BAR_WIDTH - filled)}] '
                          f'{done}/{total} {status}')
            self.stream.write('\r' + self._line.ljust(self._drawn))
            self.stream.flush()
            self._drawn = len(self._line)
        else:
            self._line = f'{label} {done}/{total} {status}'

    def end_line(self) -> None:
        """Close the open line, if any: a newline on a terminal, the whole line elsewhere."""
        if not self._line:
            return
        self.stream.write('\n' if self.in_place else self._line + '\n')
        self.stream.flush()
        self._line, self._drawn = '', 0
