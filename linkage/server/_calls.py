"""How the matcher runs each call, so that no principal can starve the others
(docs/architecture.md, section 4; docs/security.md, "No principal can starve the others").

The server is a ``grpc.aio`` server on one event loop:

* an asynchronous handler (health checking, reflection, ``StreamWriteBatches``) runs on
  the loop, so a stream that waits for its caller's next message holds no thread;
* a synchronous unary handler (every other RPC of ``linkage.v1``) runs in the worker
  pool (``[server] max_workers`` threads), and so does the blocking work an asynchronous
  handler hands to :func:`run_blocking`;
* a synchronous streaming handler (none is shipped) runs in a thread of its own pool,
  fed from the loop one message at a time, so it cannot take a worker either.

Every streaming call (client, server or bidirectional streaming) takes a slot: at most
``max_streams_per_principal`` open at once per certificate and ``max_streams`` in all;
one more is refused at once with RESOURCE_EXHAUSTED. A stream whose caller sends nothing
for ``idle_timeout_s`` (or, for a server-streaming call such as ``Health.Watch``, that
writes nothing for that long) is closed with DEADLINE_EXCEEDED, naming the limit.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import queue
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import grpc

from linkage.errors import (
    ConfigError,
    DeadlineExceededError,
    InvalidInputError,
    LinkageError,
    Problem,
    ResourceExhaustedError,
)
from linkage.pki import Principal

__all__ = [
    "CallRunner",
    "StreamLimits",
    "StreamSlots",
    "SyncAbortError",
    "Undecodable",
    "run_blocking",
    "tolerant_deserializer",
]

_T = TypeVar("_T")
AioContext = grpc.aio.ServicerContext[Any, Any]

#: The worker pool of the call being served (set for each call by :class:`CallRunner`).
_WORKERS: contextvars.ContextVar[Executor] = contextvars.ContextVar("linkage_workers")


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """``[server] max_streams``, ``max_streams_per_principal``, ``stream_idle_timeout_s``."""

    max_streams: int = 1024
    max_streams_per_principal: int = 8
    idle_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        problems = []
        if self.max_streams < 1:
            problems.append(Problem("server.max_streams", "must be at least 1"))
        if not 1 <= self.max_streams_per_principal <= max(self.max_streams, 1):
            problems.append(
                Problem("server.max_streams_per_principal", "must be in [1, server.max_streams]")
            )
        if not self.idle_timeout_s > 0:
            problems.append(Problem("server.stream_idle_timeout_s", "must be positive"))
        if problems:
            raise ConfigError("invalid server settings", problems=problems)


class StreamSlots:
    """The open streaming calls, per principal and in all. Used on the event loop only."""

    def __init__(self, limits: StreamLimits) -> None:
        self._limits = limits
        self._open: dict[Principal, int] = {}
        self._total = 0

    def acquire(self, principal: Principal) -> None:
        """Take a slot, or :class:`ResourceExhaustedError` naming the limit."""
        held = self._open.get(principal, 0)
        if held >= self._limits.max_streams_per_principal:
            raise ResourceExhaustedError(
                f"{principal.actor} already holds {held} open streams, the most one caller may"
                " hold (server.max_streams_per_principal); finish or cancel one first"
            )
        if self._total >= self._limits.max_streams:
            raise ResourceExhaustedError(
                f"the matcher holds {self._total} open streams, its limit"
                " (server.max_streams); try again later"
            )
        self._open[principal] = held + 1
        self._total += 1

    def release(self, principal: Principal) -> None:
        held = self._open.get(principal, 0)
        if held <= 1:
            self._open.pop(principal, None)
        else:
            self._open[principal] = held - 1
        self._total = max(self._total - 1, 0)

    def open_streams(self, principal: Principal | None = None) -> int:
        """How many streams ``principal`` (or everyone) holds open now."""
        return self._total if principal is None else self._open.get(principal, 0)


# -- requests that cannot be decoded ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What the server hands a handler in place of a request it cannot decode; the
    interceptor turns it into INVALID_ARGUMENT once the caller is authenticated."""

    message_type: str

    def error(self) -> InvalidInputError:
        return InvalidInputError(
            "the request cannot be decoded",
            problems=[Problem("request", f"is not a valid {self.message_type} message")],
        )


def tolerant_deserializer(
    deserializer: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    """``deserializer``, returning :class:`Undecodable` where it fails (gRPC's own answer
    to a message it cannot decode is a generic INTERNAL)."""
    if deserializer is None:
        return None
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    name = str(getattr(descriptor, "full_name", "request"))
    undecodable = Undecodable(name)

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # protobuf's DecodeError, and whatever a parser may raise on junk
            return undecodable

    return decode


def _checked(message: _T) -> _T:
    if isinstance(message, Undecodable):
        raise message.error()
    return message


# -- synchronous handlers ----------------------------------------------------------------


class SyncAbortError(LinkageError):
    """A synchronous handler called ``context.abort``: the call ends with that status."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any = ()) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailing = trailing


class SyncContext(grpc.ServicerContext):
    """What a synchronous handler, running in a worker thread, sees of its call.

    It reads what was known when the call started; what it sets (code, details,
    trailing metadata) is applied on the event loop when the handler returns, and
    ``abort`` ends the call through :class:`SyncAbortError`."""

    def __init__(self, context: AioContext, loop: asyncio.AbstractEventLoop) -> None:
        self._context = context
        self._loop = loop
        self._metadata = tuple(context.invocation_metadata() or ())
        self._peer = context.peer()
        self._identities = context.peer_identities()
        self._identity_key = context.peer_identity_key()
        self._auth = dict(context.auth_context())
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._trailing: Any = None

    def is_active(self) -> bool:
        return not self._context.done()

    def time_remaining(self) -> float:
        return self._context.time_remaining()

    def cancel(self) -> bool:
        raise SyncAbortError(grpc.StatusCode.CANCELLED, "cancelled by the server")

    def add_callback(self, callback: Callable[[], None]) -> bool:
        context = self._context

        def done(_context: AioContext) -> None:
            callback()

        def add() -> None:
            context.add_done_callback(cast(Any, done))

        self._loop.call_soon_threadsafe(add)
        return True

    def invocation_metadata(self) -> Any:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> Iterable[bytes] | None:
        return self._identities

    def peer_identity_key(self) -> str | None:
        return self._identity_key

    def auth_context(self) -> Mapping[str, Any]:
        return self._auth

    def send_initial_metadata(self, initial_metadata: Any) -> None:
        pass  # sent with the first response

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self._trailing = trailing_metadata

    def abort(self, code: grpc.StatusCode, details: str) -> Any:
        raise SyncAbortError(code, details)

    def abort_with_status(self, status: grpc.Status) -> Any:
        raise SyncAbortError(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def apply(self) -> None:
        """Hand what the handler set to the call (on the event loop)."""
        if self._code is not None:
            self._context.set_code(self._code)
        if self._details is not None:
            self._context.set_details(self._details)
        if self._trailing is not None:
            self._context.set_trailing_metadata(self._trailing)


async def run_blocking(function: Callable[..., _T], *args: Any) -> _T:
    """Run ``function(*args)`` in the worker pool of the call being served (the current
    principal and other context variables go with it); for asynchronous handlers."""
    loop = asyncio.get_running_loop()
    executor = _WORKERS.get(None)
    call = functools.partial(contextvars.copy_context().run, function, *args)
    return await loop.run_in_executor(executor, call)


# -- the bridge for synchronous streaming handlers ---------------------------------------

_NEED: Final = "need"
_RESPONSE: Final = "response"
_DONE: Final = "done"
_FAILED: Final = "failed"


class _Ended:
    """Put where a request was awaited: the request stream ended (or the call did)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class _BridgedRequests(Iterator[Any]):
    """The request iterator a synchronous streaming handler reads in its thread."""

    def __init__(self, post: Callable[[tuple[str, Any]], None]) -> None:
        self._post = post
        self.supply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ended = False

    def __next__(self) -> Any:
        if self._ended:
            raise StopIteration
        self._post((_NEED, None))
        item = self.supply.get()
        if isinstance(item, _Ended):
            self._ended = True
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item


# -- the runner ---------------------------------------------------------------------------


class CallRunner:
    """Runs each handler where it belongs (the module's docstring) and keeps the limits."""

    def __init__(self, max_workers: int, limits: StreamLimits) -> None:
        self.limits = limits
        self.slots = StreamSlots(limits)
        self._workers = ThreadPoolExecutor(max_workers, thread_name_prefix="rpc")
        # threads start on demand; each serves one bridged stream at a time
        self._stream_threads = ThreadPoolExecutor(limits.max_streams, thread_name_prefix="stream")

    def close(self) -> None:
        """Wait for the work in flight and stop the threads."""
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._stream_threads.shutdown(wait=True, cancel_futures=True)

    def _idle(self) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"the stream was idle for {self.limits.idle_timeout_s:g} s"
            " (server.stream_idle_timeout_s); the server closed it"
        )

    async def unary(self, behaviour: Callable[..., Any], request: Any, context: AioContext) -> Any:
        """A unary-request, unary-response call."""
        _WORKERS.set(self._workers)
        request = _checked(request)
        if inspect.iscoroutinefunction(behaviour):
            return await behaviour(request, context)
        loop = asyncio.get_running_loop()
        sync = SyncContext(context, loop)
        call = functools.partial(contextvars.copy_context().run, behaviour, request, sync)
        try:
            return await loop.run_in_executor(self._workers, call)
        finally:
            sync.apply()

    async def stream(
        self,
        principal: Principal,
        behaviour: Callable[..., Any],
        request: Any,
        context: AioContext,
        *,
        streaming_request: bool,
        streaming_response: bool,
    ) -> Any:
        """A call that streams requests, responses or both: one slot, idle timeouts."""
        _WORKERS.set(self._workers)
        self.slots.acquire(principal)
        try:
            argument = self._timed(request) if streaming_request else _checked(request)
            watch = not streaming_request  # a server-streaming call is idle between writes
            if inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour):
                return await self._run_async(behaviour, argument, context, watch=watch)
            return await self._run_sync(
                behaviour, argument, context, streaming_response=streaming_response, watch=watch
            )
        finally:
            self.slots.release(principal)

    async def _timed(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        iterator = aiter(requests)
        while True:
            try:
                async with asyncio.timeout(self.limits.idle_timeout_s):
                    message = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise self._idle() from None
            yield _checked(message)

    async def _run_async(
        self, behaviour: Callable[..., Any], argument: Any, context: AioContext, *, watch: bool
    ) -> Any:
        loop = asyncio.get_running_loop()
        idle = self.limits.idle_timeout_s
        try:
            async with asyncio.timeout(idle if watch else None) as timer:

                async def write(message: Any) -> None:
                    await context.write(message)
                    if watch:
                        timer.reschedule(loop.time() + idle)

                if inspect.isasyncgenfunction(behaviour):
                    async for message in behaviour(argument, context):
                        await write(message)
                    return None
                return await behaviour(argument, _WritingContext(context, write))
        except TimeoutError:
            raise self._idle() from None

    async def _run_sync(
        self,
        behaviour: Callable[..., Any],
        argument: Any,
        context: AioContext,
        *,
        streaming_response: bool,
        watch: bool,
    ) -> Any:
        loop = asyncio.get_running_loop()
        demands: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def post(item: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(demands.put_nowait, item)

        requests = _BridgedRequests(post) if not watch else None
        sync = SyncContext(context, loop)

        def work() -> None:
            try:
                result = behaviour(requests if requests is not None else argument, sync)
                if streaming_response:
                    for message in result:
                        post((_RESPONSE, message))
                    result = None
                post((_DONE, result))
            except BaseException as exc:  # handed to the loop, which raises it
                post((_FAILED, exc))

        self._stream_threads.submit(contextvars.copy_context().run, work)
        idle = self.limits.idle_timeout_s
        try:
            while True:
                try:
                    async with asyncio.timeout(idle if watch else None):
                        kind, value = await demands.get()
                except TimeoutError:
                    raise self._idle() from None
                if kind == _NEED:
                    assert requests is not None
                    try:
                        requests.supply.put(await anext(argument))
                    except StopAsyncIteration:
                        requests.supply.put(_Ended())
                    except LinkageError as exc:
                        requests.supply.put(_Ended(exc))
                elif kind == _RESPONSE:
                    await context.write(value)
                elif kind == _DONE:
                    return value
                else:
                    raise value
        finally:
            sync.apply()
            if requests is not None:  # a handler still reading is told the call ended
                requests.supply.put(_Ended(SyncAbortError(grpc.StatusCode.CANCELLED, "call ended")))


class _WritingContext:
    """The call's context, whose ``write`` also restarts the idle timer."""

    def __init__(self, context: AioContext, write: Callable[[Any], Awaitable[None]]) -> None:
        self._context = context
        self.write = write

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
