"""Errors a user can act on.

Every message names the thing that is wrong, what was expected, and the fix; the
command-line tools print it as one line and exit with status 2.
"""

from __future__ import annotations


class MserError(Exception):
    """Base class of the errors the command-line tools report without a traceback."""


class DataError(MserError):
    """A data root, a corpus or a file cannot be used as given."""


class SkipFile(Exception):
    """A file that is left out, with the reason; raised while reading one file.

    Not an error of the run: the file is reported in one line and counted, and the
    rest of the corpus goes on.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrainingStopped(BaseException):
    """A judge outside the training (a scheduler, through ``on_epoch``) stopped it.

    Raised by an ``on_epoch`` callback, never by the science code itself; the training
    keeps what it reached where that is useful (:func:`mser.families.windows._fit_replaying`) and lets
    it pass. A ``BaseException``, as ``KeyboardInterrupt`` is: a stop is not an error, and
    must pass through the ``except Exception`` of code between the judge and the caller.
    """
