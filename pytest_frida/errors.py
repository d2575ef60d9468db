"""The base of errors a user fixes (a missing tool, image or daemon, a bad stack file).

They carry one line that says what is wrong and what to do; pytest shows that line
without a traceback, and the `frida` command prints it and exits 2.
"""


class FridaSetupError(RuntimeError):
    """Something around the run is missing or wrong; the message says what to do."""
