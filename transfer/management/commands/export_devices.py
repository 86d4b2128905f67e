import os
import sys

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from devices.filters import DEVICE_FILTER_FIELDS
from devices.models import Device
from devmanager.api.filtering import FilterError
from devmanager.api.filtering.expression import compile_expression
from groups.models import DeviceGroup
from groups.querysets import member_devices
from transfer.exporting import devices_export


class Command(BaseCommand):
    help = (
        "Export devices as JSON Lines (default) or CSV, to standard output or --output FILE, streaming; "
        "import_devices reads the output back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--output", metavar="FILE", help="Write to FILE (complete or not at all) instead.")
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="EXPR",
            help="A filter-language expression such as 'status[eq]:ACTIVE'; repeatable, all must hold.",
        )
        parser.add_argument(
            "--q",
            metavar="EXPR",
            help="A boolean expression over filters, such as 'status[eq]:EXPIRED or not tags[ct]:lab'; ANDed with "
            "--filter.",
        )
        parser.add_argument("--group", metavar="ID", help="Only the members of this device group.")

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except BrokenPipeError:
            # The reader went away (`export_devices | head`): stop quietly, as a well-behaved filter does. Standard
            # output points to /dev/null from here, so that the interpreter's final flush fails no more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)

    def handle(self, *args, format, output, filter, q, group, **options):
        queryset = _devices(filter, group)
        if q:
            try:
                queryset = queryset.filter(compile_expression(q, DEVICE_FILTER_FIELDS))
            except FilterError as exc:
                raise CommandError(f"bad --q: {exc}") from exc
        total = queryset.count() if sys.stderr.isatty() else None
        with tqdm(total=total, unit="dev", unit_scale=True, desc="exporting", disable=None) as progress:
            if output is None:
                count = devices_export(
                    queryset=queryset, format=format, write=self._write_stdout, progress=progress.update
                )
            else:
                count = _export_to_file(output, queryset, format, progress.update)
        self.stderr.style_func = None  # a count, not an error: no red on a terminal
        self.stderr.write(f"Exported {count} device(s).")

    def _write_stdout(self, text: str) -> None:
        self.stdout.write(text, ending="")


def _devices(filters: list[str], group_id: str | None):
    devices = Device.objects.all()
    if group_id is not None:
        try:
            group = DeviceGroup.objects.get(pk=group_id)
        except (DeviceGroup.DoesNotExist, DjangoValidationError) as exc:
            raise CommandError(f"no device group {group_id!r}") from exc
        try:
            devices = member_devices(group)
        except FilterError as exc:  # criteria stored before a change of the filter language
            raise CommandError(f"device group {group_id!r} has criteria that no longer compile: {exc}") from exc
    try:
        return devices.matching(filters)
    except FilterError as exc:
        raise CommandError(f"bad --filter: {exc}") from exc


def _export_to_file(path: str, queryset, format: str, progress) -> int:
    """Write to a temporary file beside PATH and rename it at the end: an interrupted export leaves no partial file
    that looks complete. What is not a regular file (/dev/stdout, a named pipe) is written to as it is."""
    if os.path.exists(path) and not os.path.isfile(path):
        try:
            with open(path, "w", encoding="utf-8", newline="") as file:
                return devices_export(queryset=queryset, format=format, write=file.write, progress=progress)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
    partial = f"{path}.partial"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as file:
            count = devices_export(queryset=queryset, format=format, write=file.write, progress=progress)
        os.replace(partial, path)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return count
