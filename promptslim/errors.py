"""Exceptions that map to the exit codes DESIGN.md fixes; the CLI is the only place that maps them."""

from __future__ import annotations


class PromptslimError(Exception):
    """Base class: a one-line message meant for the user, and the exit code it ends with."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(PromptslimError):
    """Bad input or usage: a file, line or config key is named in the message (exit 2)."""

    exit_code = 2


class SandboxRefusal(InputError):
    """A template tried something the sandbox forbids, or passed a render bound: always an error, on either side."""


class BudgetStop(PromptslimError):
    """The run's own spend reached its budget, or the plan's estimate exceeded it (exit 3)."""

    exit_code = 3


class EndpointError(PromptslimError):
    """The model endpoint failed after retries, or refused the request outright (exit 4)."""

    exit_code = 4


class Interrupted(PromptslimError):
    """SIGINT/SIGTERM: answers in flight were given a grace period to arrive and be cached (exit 130)."""

    exit_code = 130
