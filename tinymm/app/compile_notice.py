"""Say on screen that Numba is compiling tinymm's kernels (a first run on a fresh clone).

Numba compiles a kernel on its first call for the argument types, then loads it from the disk
cache in later processes. ``numba:compile`` events fire only for real compiles (a cache hit
fires none), so a listener on them tells a cold start from a warm one exactly. The notice
prints its header once, keeps one live line with the kernel being compiled (on a terminal),
and ``finish()`` closes it with how many kernels compiled and how long they took.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

HEADER = "compiling kernels (first run only, cached afterwards):"


class CompileNotice:
    """A ``numba.core.event.Listener`` (made a subclass lazily, so numba loads on use)."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.depth = 0  # nested compiles (a kernel's callees) count with their caller
        self.count = 0
        self.reported = 0
        self.seconds = 0.0
        self.started = None
        self.name = ""

    def on_start(self, ev):
        self.depth += 1
        function = ev.data["dispatcher"].py_func
        if self.depth != 1 or not function.__module__.startswith("tinymm."):
            return
        self.started = time.perf_counter()
        self.name = f"{function.__module__.rsplit('.', 1)[-1]}.{function.__name__}"
        if self.count == 0:
            self._write(HEADER + ("" if self.tty else " ...\n"))
        if self.tty:
            self._write(f"\r{HEADER} {self.count + 1}: {self.name} "
                        f"({self.seconds:.0f}s so far)\x1b[K")

    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0 and self.started is not None:
            self.count += 1
            self.seconds += time.perf_counter() - self.started
            self.started = None

    def finish(self) -> None:
        """Close the notice line with a summary (only when something compiled since)."""
        if self.count > self.reported:
            self._write(f"{chr(13) if self.tty else ''}{HEADER} {self.count} kernels compiled "
                        f"in {self.seconds:.1f}s; later runs load them from the cache"
                        f"{chr(27) + '[K' if self.tty else ''}\n")
            self.reported = self.count

    def _write(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()


@contextmanager
def compile_notice(stream=None):
    """Listen for Numba compiles inside the block; yields the notice (call ``finish()``)."""
    from numba.core import event

    listener_type = type("CompileListener", (CompileNotice, event.Listener), {})
    notice = listener_type(sys.stderr if stream is None else stream)
    event.register("numba:compile", notice)
    try:
        yield notice
    finally:
        event.unregister("numba:compile", notice)
        notice.finish()
