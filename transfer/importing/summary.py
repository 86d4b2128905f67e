"""What an import does with existing devices, and what it reports: each failed row, and the counts."""

from dataclasses import dataclass
from enum import StrEnum

EXISTS = "a device with this id already exists"


class Mode(StrEnum):
    """What an import does with a row whose device exists."""

    CREATE = "create"  # an existing id is a failed row
    SKIP = "skip"  # an existing device is left alone
    UPSERT = "upsert"  # an existing device gets the row's fields


@dataclass
class Failure:
    """A row that was not imported: its line, its text, and why (the API's error fields)."""

    line: int
    raw: str
    fields: list[dict]
    id: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{item['name']}: {item['message']}" for item in self.fields)


@dataclass
class ImportSummary:
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    done_through_line: int = 0  # every row up to this line is written or reported; none after it is

    def __str__(self) -> str:
        return (
            f"read {self.read}, created {self.created}, updated {self.updated}, skipped {self.skipped}, "
            f"failed {self.failed}"
        )
