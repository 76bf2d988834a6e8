"""User-facing errors: each carries one sentence that says what went wrong and what to do.

The CLI prints these as they are and exits non-zero; anything else is a bug and still gets a
one-line message (see cli.main), never a traceback.
"""


class TesseraError(Exception):
    """A failure the user can act on; str(e) is the whole message."""
