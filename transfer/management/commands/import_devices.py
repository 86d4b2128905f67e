import gc
import json
import signal
import sys
from contextlib import ExitStack, contextmanager

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from transfer.importing import DEFAULT_BATCH_SIZE, BatchWriter, DeviceImport, Failure, Mode
from transfer.rowformats import FormatError, format_for, read_rows

SHOWN_FAILURES = 20


class Command(BaseCommand):
    help = (
        "Import devices from JSON Lines or CSV (PATH, or - for standard input), each row validated as POST /devices "
        "validates a body, in batches of one transaction each. Exits non-zero when any row failed."
    )
    # Not on the command line: for tests, standard input and the class that writes the batches (BatchWriter).
    stealth_options = ("stdin", "batch_writer_class")

    def add_arguments(self, parser):
        parser.add_argument("path", help="A .jsonl, .ndjson or .csv file, or - for standard input (JSON Lines).")
        parser.add_argument("--format", choices=["jsonl", "csv"], help="Overrides the file's extension.")
        parser.add_argument(
            "--mode",
            choices=[mode.value for mode in Mode],
            default=Mode.CREATE.value,
            help="create: an existing id is a failed row; skip: existing devices are left alone; upsert: existing "
            "devices get the row's fields and adapters (default: create).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate everything, write nothing.")
        parser.add_argument("--errors", metavar="FILE", help="Write each failed row (JSON Lines) to FILE.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Rows per transaction.")

    def handle(self, *args, path, format, mode, dry_run, errors, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be positive")
        try:
            format = format_for(path, format)
        except FormatError as exc:
            raise CommandError(str(exc)) from exc
        with ExitStack() as stack:
            stack.enter_context(_fewer_collections())
            # Validation takes two processes, each reading the file; standard input can be read only once.
            streams = [self._open_input(path, options.get("stdin"), stack) for _ in range(1 if path == "-" else 2)]
            sources = [read_rows(stream, format) for stream in streams]
            errors_file = stack.enter_context(open(errors, "w", encoding="utf-8")) if errors else None
            progress = stack.enter_context(
                tqdm(total=_count_rows(path, format), unit="row", unit_scale=True, desc="importing", disable=None)
            )
            shown = []

            def report(failure: Failure) -> None:
                if errors_file:
                    errors_file.write(json.dumps(_failure_record(failure), ensure_ascii=False) + "\n")
                if len(shown) < SHOWN_FAILURES:
                    shown.append(failure)
                    with tqdm.external_write_mode():  # above the progress bar
                        self.stderr.write(f"line {failure.line}: {failure.reason}")

            importer = DeviceImport(
                mode=Mode(mode),
                source="command:import_devices",
                batch_size=batch_size,
                report=report,
                progress=progress.update,
                batch_writer_class=options.get("batch_writer_class") or BatchWriter,
            )
            try:
                with _terminate_as_interrupt():
                    summary = importer.run(sources, dry_run=dry_run)
            except FormatError as exc:
                raise CommandError(str(exc)) from exc
            except KeyboardInterrupt:
                progress.close()
                raise CommandError(_interrupted(importer.summary), returncode=130) from None
        self.stdout.write(f"{'Dry run (nothing written): ' if dry_run else ''}{summary}.")
        if summary.failed:
            more = "" if summary.failed <= SHOWN_FAILURES or errors else " (--errors FILE lists them all)"
            raise CommandError(f"{summary.failed} row(s) failed{more}.")

    def _open_input(self, path: str, stdin, stack: ExitStack):
        if path != "-":
            try:
                return stack.enter_context(open(path, "rb"))
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        stdin = stdin or sys.stdin
        return getattr(stdin, "buffer", stdin)


def _failure_record(failure: Failure) -> dict:
    return {
        "line": failure.line,
        "id": failure.id,
        "reason": failure.reason,
        "fields": failure.fields,
        "row": failure.raw,
    }


def _interrupted(summary) -> str:
    return (
        f"Interrupted ({summary}): every row up to line {summary.done_through_line} is written or reported, none "
        "after it. Run the command again with --mode skip (or upsert) to finish the job."
    )


def _count_rows(path: str, format: str) -> int | None:
    """Lines in the file (less the header), for the progress bar's estimate of the time left; None for stdin."""
    if path == "-" or not sys.stderr.isatty():
        return None
    with open(path, "rb") as file:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    return max(lines - (format == "csv"), 0)


@contextmanager
def _fewer_collections():
    """Millions of short-lived rows: the objects alive before are never garbage, and collecting less often saves a
    tenth of the time (rows hold no reference cycles; the serializers' are collected all the same)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a `kill`) ends the run as Ctrl-C does: the batch being written is rolled back, and a summary says
    where to resume. SIGKILL cannot be caught; the database then rolls the open batch back by itself."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
