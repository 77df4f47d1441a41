"""User-facing errors.

Every problem caused by what the user gave us (a bad argument, a file without the
branches we need, a model that does not match) raises :class:`JetCLRError` with a
one-line message that names the problem.  The command line prints that line and exits
with status 2, never a traceback.
"""

from __future__ import annotations

__all__ = ["JetCLRError", "MissingExtraError", "ParameterError"]


class JetCLRError(Exception):
    """A problem with the user's input, explained in one line."""


class MissingExtraError(JetCLRError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is needed for this; install it with: pip install 'jetclr-coffea[{extra}]'"
        )


class ParameterError(JetCLRError):
    """A bad value of a library parameter; the message names the parameter.

    The command line names the option instead (``qcd_efficiency`` -> ``--qcd-efficiency``)
    through :meth:`with_name`.

    Args:
        param: the parameter's name in the library call.
        problem: what is wrong, e.g. "must be between 0 and 1, got 1.5".
    """

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param} {problem}")
        self.param = param
        self.problem = problem

    def with_name(self, name: str) -> str:
        """The message with the parameter called ``name``."""
        return f"{name} {self.problem}"
