"""The one interceptor every RPC passes through: it authenticates the caller
from its client certificate, authorises the method for the caller's role,
hands the principal to the servicer, runs the handler within the call limits
(:mod:`linkage.server._calls`), and maps domain errors to statuses."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from linkage.errors import AuthenticationError, LinkageError, PermissionDeniedError
from linkage.pki import PeerAuthenticator, Principal, Role
from linkage.security import DEFAULT_POLICY, AuthorizationPolicy, authorize
from linkage.server._calls import (
    AioContext,
    CallRunner,
    StreamLimits,
    SyncAbortError,
    tolerant_deserializer,
)
from linkage.server._status import abort_for_error

__all__ = ["DEV_PRINCIPAL_HEADER", "CallObserver", "GatewayInterceptor", "current_principal"]

_log = logging.getLogger("linkage.server")
_PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar("linkage_principal")

#: In --insecure-dev mode only, the caller names itself with this metadata
#: header: ``role/agency/name`` (``operator//name`` for roles without agency).
DEV_PRINCIPAL_HEADER = "x-linkage-dev-principal"

#: Told of every finished call: (method, status code name, seconds).
CallObserver = Callable[[str, str, float], None]


def current_principal() -> Principal:
    """The authenticated caller of the RPC being served."""
    try:
        return _PRINCIPAL.get()
    except LookupError:  # pragma: no cover - only if a servicer runs outside the interceptor
        raise AuthenticationError("no authenticated caller") from None


def _dev_principal(context: AioContext) -> Principal:
    for key, value in context.invocation_metadata() or ():
        if key == DEV_PRINCIPAL_HEADER and isinstance(value, str):
            parts = value.split("/")
            if len(parts) == 3:
                role_text, agency, name = parts
                try:
                    return Principal(Role(role_text), agency or None, name, 1)
                except (ValueError, LinkageError):
                    break
    raise AuthenticationError(
        f"insecure development mode: send the {DEV_PRINCIPAL_HEADER} header as role/agency/name"
    )


class GatewayInterceptor(grpc.aio.ServerInterceptor):
    """Authentication, authorisation, error mapping and the call limits for every method.

    With ``authenticator=None`` (``--insecure-dev`` only) callers name
    themselves in a metadata header; otherwise the TLS client certificate
    is the only source of identity. Each handler runs where
    :class:`~linkage.server._calls.CallRunner` puts it, within ``stream_limits``.
    """

    def __init__(
        self,
        authenticator: PeerAuthenticator | None,
        *,
        policy: AuthorizationPolicy = DEFAULT_POLICY,
        observer: CallObserver | None = None,
        max_workers: int = 16,
        stream_limits: StreamLimits | None = None,
        on_denied: Callable[[Principal, str], None] | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._policy = policy
        #: audits a call the principal's role may not make (blocking; run in a thread)
        self._on_denied = on_denied
        self._observer = observer
        self.runner = CallRunner(max_workers, stream_limits or StreamLimits())

    def close(self) -> None:
        """Wait for the calls' work in flight and stop the worker threads."""
        self.runner.close()

    def _identify(self, context: AioContext) -> Principal:
        if self._authenticator is None:
            return _dev_principal(context)
        certs = list(context.auth_context().get("x509_pem_cert", ()))
        pem = certs[0] if certs else None
        return self._authenticator.authenticate(pem if isinstance(pem, bytes | str) else None)

    async def _enter(self, method: str, context: AioContext) -> Principal:
        principal = self._identify(context)
        try:
            authorize(principal, method, self._policy)
        except PermissionDeniedError:
            if self._on_denied is not None:
                loop = asyncio.get_running_loop()
                try:
                    await loop.run_in_executor(None, self._on_denied, principal, method)
                except Exception as exc:  # the caller is told what it did, not the store's state
                    _log.warning(
                        "could not audit a refused call to %s (%s); the refusal audit keeps "
                        "its count for the next try",
                        method,
                        type(exc).__name__,
                    )
            raise
        return principal

    def _observe(self, method: str, code: str, started: float) -> None:
        if self._observer is not None:
            self._observer(method, code, time.perf_counter() - started)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        decode = tolerant_deserializer(handler.request_deserializer)
        encode = handler.response_serializer
        runner = self.runner
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def unary_unary(request: Any, context: AioContext) -> Any:
                return await self._call(
                    method, context, lambda _p: runner.unary(unary, request, context)
                )

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, request_deserializer=decode, response_serializer=encode
            )
        behaviour, streaming_request, streaming_response = _streaming_behaviour(handler)

        async def streaming(request: Any, context: AioContext) -> Any:
            return await self._call(
                method,
                context,
                lambda principal: runner.stream(
                    principal,
                    behaviour,
                    request,
                    context,
                    streaming_request=streaming_request,
                    streaming_response=streaming_response,
                ),
            )

        make = {
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(streaming_request, streaming_response)]
        return make(streaming, request_deserializer=decode, response_serializer=encode)

    async def _call(
        self, method: str, context: AioContext, run: Callable[[Principal], Awaitable[Any]]
    ) -> Any:
        """Authenticate and authorise, expose the principal, run, map errors, observe.

        A refused call is observed before its status is sent (``context.abort`` sends it),
        so a caller that has its answer finds the call in the metrics."""
        started = time.perf_counter()
        code = "OK"
        token = None
        observed = False

        def observe(outcome: str) -> None:
            nonlocal observed
            if not observed:
                observed = True
                self._observe(method, outcome, started)

        try:
            principal = await self._enter(method, context)
            token = _PRINCIPAL.set(principal)
            return await run(principal)
        except SyncAbortError as abort:
            code = abort.code.name
            observe(code)
            await context.abort(abort.code, abort.details, abort.trailing)
        except LinkageError as error:
            code = error.status_hint.name
            observe(code)
            await abort_for_error(context, error)
        except asyncio.CancelledError:  # the caller went away, or the server is stopping
            code = "CANCELLED"
            raise
        except grpc.aio.AbortError:  # a handler aborted the call itself
            code = _aborted_code(context)
            raise
        except Exception:
            _log.exception("unexpected error in %s", method)
            code = "INTERNAL"
            observe(code)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
        finally:
            if token is not None:
                _PRINCIPAL.reset(token)
            observe(code)


def _streaming_behaviour(
    handler: grpc.RpcMethodHandler[Any, Any],
) -> tuple[Callable[..., Any], bool, bool]:
    """A streaming handler's behaviour and whether it streams requests and responses."""
    if handler.unary_stream is not None:
        return handler.unary_stream, False, True
    if handler.stream_unary is not None:
        return handler.stream_unary, True, False
    assert handler.stream_stream is not None
    return handler.stream_stream, True, True


def _aborted_code(context: AioContext) -> str:
    """The code of a call a handler already aborted, else UNKNOWN."""
    code: object = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
