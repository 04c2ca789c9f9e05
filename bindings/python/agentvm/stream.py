"""Sandbox.stream(): a command's output as an iterator, the command running on a helper thread."""

import queue
import threading
from typing import Iterator, Optional, Tuple

from .errors import Cancelled
from .sandbox import CancelPipe, Result

__all__ = ["Stream"]


class _End:
    """The last item on the queue: the Result, or the exception the exec raised."""

    def __init__(self, result: Optional[Result] = None, error: Optional[BaseException] = None):
        self.result = result
        self.error = error


class Stream:
    """Iterates over ``(stream, bytes)`` chunks of one running command; ``result`` once done.

    The command runs on its own thread from construction on; chunks wait in
    an unbounded queue until read. ``close()`` (or leaving a with-block)
    before the end kills the command through its cancel descriptor and waits
    for the thread. An exec error (CommandTimeout, VMStopped, ...) is raised
    by the iteration once the chunks before it were read.
    """

    def __init__(self, sandbox, argv, env, cwd, stdin, timeout, capture_limit) -> None:
        self.result: Optional[Result] = None
        self._queue: "queue.Queue" = queue.Queue()
        self._cancel = CancelPipe()
        self._done = False
        self._thread = threading.Thread(
            target=self._run,
            args=(sandbox, argv, env, cwd, stdin, timeout, capture_limit),
            name="agentvm-stream",
            daemon=True,
        )
        self._thread.start()

    def _run(self, sandbox, argv, env, cwd, stdin, timeout, capture_limit) -> None:
        try:
            result = sandbox._exec(argv, env, cwd, stdin, timeout,
                                   lambda stream, data: self._queue.put((stream, data)),
                                   capture_limit, self._cancel)
            self._queue.put(_End(result=result))
        except BaseException as e:  # handed to the reading thread
            self._queue.put(_End(error=e))

    def __iter__(self) -> Iterator[Tuple[int, bytes]]:
        return self

    def __next__(self) -> Tuple[int, bytes]:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if not isinstance(item, _End):
            return item
        self._finish(item)
        if item.error is not None:
            raise item.error
        raise StopIteration

    def _finish(self, end: _End) -> None:
        self._done = True
        self.result = end.result
        self._thread.join()
        self._cancel.close()

    def close(self) -> None:
        """Kill the command if it still runs, and wait for its thread. Idempotent."""
        if self._done:
            return
        self._cancel.cancel()
        item = self._queue.get()
        while not isinstance(item, _End):
            item = self._queue.get()
        self._finish(item)
        if item.error is not None and not isinstance(item.error, Cancelled):
            raise item.error

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
