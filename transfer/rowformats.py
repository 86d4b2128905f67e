"""The file formats of `import_devices` and `export_devices`: JSON Lines (one device object a line) and CSV (a
header row, one device a record; an empty cell means the field is absent).

In CSV, `tags` is a cell of tags separated by `;` or `|` (spaces around each tag are dropped), or a JSON array when
a tag holds a separator or surrounding spaces; `metadata`, `slots` and `network_adapters` are JSON cells.
"""

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO, NamedTuple

from devmanager.strictjson import parse_json

# The columns an export writes, in its order; an import also reads the aliases and adapter shorthands after them.
EXPORT_COLUMNS = [
    "id", "alias", "tags", "status", "icon", "icon_color", "creation_timestamp", "updated_timestamp", "metadata",
    "dms_owner", "slots", "network_adapters",
]  # fmt: skip
IMPORT_COLUMNS = [*EXPORT_COLUMNS, "dms_id", "imei", "dev_eui", "dvn_uuid"]
JSON_CELLS = ("metadata", "slots", "network_adapters")
TAG_SEPARATORS = re.compile(r"[;|]")
SURROGATES = re.compile("[\ud800-\udfff]")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Way above any valid row (metadata is at most 64 KiB), so that an oversized cell is a failed row, not a failed file.
csv.field_size_limit(64 * 1024 * 1024)


class FormatError(ValueError):
    """The input as a whole cannot be read: an unknown format or a bad CSV header."""


@dataclass
class InputRow:
    """One record of the input: its line (counting from 1), its text, and the fields read, or why it is unreadable."""

    line: int
    raw: str
    record: dict | None = None
    problems: list[dict] = field(default_factory=list)  # the API's error fields: [{"name", "message"}]


def format_for(path: str, given: str | None) -> str:
    """The format named by --format, else by the file's extension; standard input defaults to JSON Lines."""
    if given:
        return given
    if path == "-":
        return "jsonl"
    for extension, name in EXTENSIONS.items():
        if path.lower().endswith(extension):
            return name
    raise FormatError(f"cannot tell the format of {path!r} from its extension: use --format jsonl or --format csv")


class Record(NamedTuple):
    """A record of the input, read but not yet parsed: `parse()` gives its InputRow. A process that shares the
    validation with others skips the records of theirs at the cost of reading them."""

    line: int
    parse: Callable[[], InputRow]


def read_rows(stream: BinaryIO, format: str) -> Iterator[Record]:
    return read_csv(stream) if format == "csv" else read_jsonl(stream)


def read_jsonl(stream: BinaryIO) -> Iterator[Record]:
    for line, data in enumerate(stream, 1):
        if line == 1:
            data = data.removeprefix(b"\xef\xbb\xbf")
        if data.strip():
            yield Record(line, partial(_jsonl_row, line, data))


def _jsonl_row(line: int, data: bytes) -> InputRow:
    try:
        text = data.decode().rstrip("\r\n")
    except UnicodeDecodeError:
        return InputRow(line, data.decode(errors="replace").rstrip("\r\n"), problems=_problem("is not UTF-8"))
    try:
        record = parse_json(text)
    except (ValueError, RecursionError) as exc:
        return InputRow(line, text, problems=_problem(f"is not valid JSON: {exc}"))
    if not isinstance(record, dict):
        return InputRow(line, text, problems=_problem("must be a JSON object"))
    return InputRow(line, text, record)


def read_csv(stream: BinaryIO) -> Iterator[Record]:
    # Undecodable bytes become lone surrogates, so that they fail their own row only.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    header = next(reader, None) or []
    _check_header(header)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(start, partial(InputRow, start, "", problems=_problem(f"is not valid CSV: {exc}")))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if cells and cells != [""]:
            yield Record(line, partial(_csv_row, line, header, cells))


def _check_header(header: list[str]) -> None:
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if unknown:
        raise FormatError(f"unknown CSV column(s) {', '.join(map(repr, unknown))}; known: {', '.join(IMPORT_COLUMNS)}")
    if "id" not in header:
        raise FormatError("the CSV header has no id column")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise FormatError(f"the CSV header repeats {', '.join(repeated)}")


def _csv_row(line: int, header: list[str], cells: list[str]) -> InputRow:
    raw = _csv_text(cells)
    if not raw.isascii() and SURROGATES.search(raw):
        shown = raw.encode(errors="surrogateescape").decode(errors="replace")
        return InputRow(line, shown, problems=_problem("is not UTF-8"))
    if len(cells) > len(header):
        return InputRow(line, raw, problems=_problem(f"has {len(cells)} cells; the header has {len(header)}"))
    record, problems = {}, []
    for name, cell in zip(header, cells, strict=False):
        if cell == "":
            continue
        try:
            record[name] = parse_tags_cell(cell) if name == "tags" else parse_json(cell) if name in JSON_CELLS else cell
        except (ValueError, RecursionError) as exc:
            problems.append({"name": name, "message": f"is not valid JSON: {exc}"})
    return InputRow(line, raw, None if problems else record, problems)


def parse_tags_cell(cell: str) -> list:
    if cell.lstrip().startswith("["):
        return parse_json(cell)
    return [tag.strip() for tag in TAG_SEPARATORS.split(cell)]


def tags_cell(tags: list[str]) -> str:
    """The CSV cell of a list of tags: `a;b`, or a JSON array when the plain form would not read back the same."""
    plain = all(tag == tag.strip() and not TAG_SEPARATORS.search(tag) for tag in tags)
    if plain and not (tags and tags[0].startswith("[")):
        return ";".join(tags)
    return json.dumps(tags, ensure_ascii=False)


def _csv_text(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def _problem(message: str) -> list[dict]:
    return [{"name": "row", "message": message}]
