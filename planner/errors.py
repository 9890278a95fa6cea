"""Exception hierarchy of the planner.

Every error a user can cause derives from :class:`PlannerError`, so the CLI can map it to an
exit code and a readable message without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class PlannerError(Exception):
    """Base class of all planner errors a user can act on."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One problem found in the input data, located as precisely as possible.

    ``severity`` is ``error`` (the case cannot be planned; :func:`planner.checks.check_fleet`
    raises) or ``warning`` (the plan is made, but probably not the one the user meant; see
    :func:`planner.checks.fleet_warnings`).
    """

    file: str
    message: str
    fix: str = ""
    row: int | None = None
    column: str | None = None
    value: object = None
    severity: str = "error"

    def render(self) -> str:
        """Return the problem as one line: where, what, and how to fix it."""
        where = self.file
        if self.row is not None:
            where += f", row {self.row} (line {self.row + 1})"
        if self.column:
            where += f", column '{self.column}'"
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" (value: {self.value!r})"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


class FleetDataError(PlannerError, ValueError):
    """Invalid input data; carries every problem found, not just the first."""

    exit_code = 3

    def __init__(self, problems: list[Problem] | list[str], header: str = "Invalid fleet data"):
        self.problems: list[Problem] = [
            p if isinstance(p, Problem) else Problem(file="", message=str(p)) for p in problems
        ]
        self.header = header
        super().__init__(self.render())

    def render(self) -> str:
        """Return a header line and one bullet per problem."""
        n = len(self.problems)
        lines = [f"{self.header}: {n} problem{'s' if n != 1 else ''} found"]
        lines += [f"  - {p.render().lstrip(', :')}" for p in self.problems]
        return "\n".join(lines)


class InfeasiblePlanError(PlannerError):
    """No plan satisfies the constraints; ``explanation`` says what falls short where."""

    exit_code = 4

    def __init__(self, message: str, explanation=None):
        self.explanation = explanation
        super().__init__(message)


class SolverError(PlannerError):
    """The solver failed or found no plan within its limits."""

    exit_code = 4
