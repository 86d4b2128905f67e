"""`python manage.py worker` stops on SIGTERM or SIGINT however many arrive at once: Ctrl-C on `scripts/serve`
signals the whole group, and the script then sends its own SIGTERM, so a burst is the usual case."""

import contextlib
import os
import random
import signal
import subprocess
import sys
import time

from tests.workers import ROOT

# What the worker command does with the signals (devmanager.worker), without a database.
# A busy thread and a short switch interval hand the interpreter to another thread often, also in the middle of
# the first signal's handling, where the next signal then lands: the race a loaded machine runs into.
STOPPED_BY_SIGNALS = """
import sys, threading
from devmanager.worker import stop_on_signals
stopping = stop_on_signals()
sys.setswitchinterval(1e-6)
threading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=True).start()
print("ready", flush=True)
while not stopping.wait(timeout=1.0):
    pass
print("stopped", flush=True)
"""


def test_a_stream_of_stop_signals_stops_the_worker_cleanly():
    for _attempt in range(5):  # a signal landing inside the first one's handling is likely, not certain, in one try
        process = subprocess.Popen(
            [sys.executable, "-c", STOPPED_BY_SIGNALS], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert process.stdout.readline() == "ready\n"
        until = time.monotonic() + 0.3
        while time.monotonic() < until and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                os.kill(process.pid, random.choice((signal.SIGTERM, signal.SIGINT)))
        try:
            assert process.wait(timeout=15) == 0
        finally:
            process.kill()
        assert process.stdout.read() == "stopped\n"


def test_a_stop_signal_arriving_later_still_stops_it():
    process = subprocess.Popen([sys.executable, "-c", STOPPED_BY_SIGNALS], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
