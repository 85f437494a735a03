"""Parsing a large file in a second process while this one matches and writes.

Validating a row (phone numbers above all) costs about as much Python time as everything else the
importer does with it, and the database waits on Python while it runs. A forked child reads the
rest of the file, parses it a chunk at a time and sends the parsed rows back through a pipe, so on
two cores the parsing of the next chunk overlaps the database work of this one.

The child only computes: it never touches the database (its copies of the connections' sockets are
closed first) and it leaves with os._exit, so nothing the parent owns is cleaned up twice. If it
dies, the parent sees the pipe end early and fails the import, which then rolls back whole. If the
parent dies, the child's next write fails and it leaves.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import struct
import threading
import traceback
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO, TypeVar

from django.conf import settings
from django.db import connections

T = TypeVar("T")
_FRAME = struct.Struct("!cQ")  # kind, payload length
_CHUNK, _END, _FAILED = b"C", b"E", b"F"


class ParseProcessError(RuntimeError):
    """The parsing process stopped before the end of the file."""


def can_fork() -> bool:
    """Forking copies only the calling thread: with other threads running (a development server,
    a test's live server) a lock one of them holds could never be released in the child."""
    return settings.IMPORT_PARSE_PROCESS and hasattr(os, "fork") and threading.active_count() == 1


@contextlib.contextmanager
def collector_paused() -> Generator[None, None, None]:
    """Python's cyclic garbage collector off for the length of an import.

    Each chunk allocates hundreds of thousands of small objects that reference counting frees;
    the collector would scan them again and again on the way (a third of the importer's Python
    time). Rows make no reference cycles; collect_chunk_garbage() after each chunk catches any
    that something else made, so memory stays bounded by a chunk.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def collect_chunk_garbage() -> None:
    # With the collector off nothing is promoted, so the youngest generation holds every
    # container made since the last call that is still alive: few, once a chunk is done.
    gc.collect(0)


def parsed_in_child(chunks: Iterator[T], parse: Callable[[T], Any]) -> Generator[Any, None, None]:
    """parse(chunk) for each chunk, computed in a forked process, in order."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
        os.close(read_end)
        _child(chunks, parse, os.fdopen(write_end, "wb", buffering=1 << 20))
    os.close(write_end)
    finished = False
    try:
        with os.fdopen(read_end, "rb", buffering=1 << 20) as pipe:
            while True:
                kind, payload = _read_frame(pipe)
                if kind == _END:
                    finished = True
                    return
                if kind == _FAILED:
                    raise ParseProcessError(payload.decode("utf-8", "replace"))
                yield pickle.loads(payload)  # noqa: S301 - our own child wrote it
    finally:
        if not finished:
            # Stopped early (an error here, or the consumer gave up): the child must not go on.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _read_frame(pipe: BinaryIO) -> tuple[bytes, bytes]:
    header = pipe.read(_FRAME.size)
    if len(header) < _FRAME.size:
        raise ParseProcessError("the parsing process stopped before the end of the file")
    kind, length = _FRAME.unpack(header)
    payload = pipe.read(length)
    if len(payload) < length:
        raise ParseProcessError("the parsing process stopped before the end of the file")
    return kind, payload


def _child(  # pragma: no cover - runs in the child
    chunks: Iterator[Any], parse: Callable[[Any], Any], pipe: BinaryIO
) -> None:
    status = 0
    try:
        _close_database_sockets()
        for chunk in chunks:
            payload = pickle.dumps(parse(chunk), protocol=pickle.HIGHEST_PROTOCOL)
            pipe.write(_FRAME.pack(_CHUNK, len(payload)))
            pipe.write(payload)
            collect_chunk_garbage()
        pipe.write(_FRAME.pack(_END, 0))
        pipe.flush()
    except BrokenPipeError:
        status = 1  # the parent has gone: nobody to tell
    except BaseException:
        # Whatever it was must reach the parent; the child ends here in any case.
        status = 1
        message = traceback.format_exc().encode("utf-8", "replace")
        try:
            pipe.write(_FRAME.pack(_FAILED, len(message)))
            pipe.write(message)
            pipe.flush()
        except OSError:
            pass
    os._exit(status)


def _close_database_sockets() -> None:  # pragma: no cover - runs in the child
    # The parent's connections live on in the child as copies of their sockets. Closing the
    # copies (not the connections: that would say goodbye to the server on the parent's behalf)
    # lets PostgreSQL see at once that the import is gone if the parent is killed.
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None:
            continue
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.close(raw.fileno())
