"""A problem found in editors' files, printed as ``file:line: message``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str
    severity: str = ERROR

    def format(self, root: Path | None = None) -> str:
        path = self.file
        if root is not None:
            try:
                path = str(Path(self.file).resolve().relative_to(root.resolve()))
            except ValueError:
                pass
        where = f"{path}:{self.line}" if self.line else path
        label = "" if self.severity == ERROR else "warning: "
        return f"{where}: {label}{self.message}"


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)
