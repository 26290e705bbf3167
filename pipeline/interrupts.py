"""Hold Ctrl-C while native converters run, because they abort the process when interrupted."""

import logging
import signal
import threading
from contextlib import contextmanager

logger = logging.getLogger(__name__)


@contextmanager
def defer_interrupts(step: str):
    """Record SIGINT during the block and raise KeyboardInterrupt once it ends.

    The ExecuTorch and LiteRT converters call back into Python from C++; a KeyboardInterrupt raised
    inside such a callback aborted the process (exit code 134) or was swallowed, so an interrupt waits
    until `step` finishes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    received = []

    def record(signum, frame):
        if not received:
            logger.warning("interrupt received; stopping once %s finishes", step)
        received.append(signum)

    previous = signal.signal(signal.SIGINT, record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
