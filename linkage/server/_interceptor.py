"""The one interceptor every RPC passes through: it authenticates the caller
from its client certificate, authorises the method for the caller's role,
hands the principal to the servicer, and maps domain errors to statuses."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from linkage.errors import AuthenticationError, LinkageError
from linkage.pki import PeerAuthenticator, Principal, Role
from linkage.security import DEFAULT_POLICY, AuthorizationPolicy, authorize
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


def _dev_principal(context: grpc.ServicerContext) -> Principal:
    for key, value in context.invocation_metadata():
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


class GatewayInterceptor(grpc.ServerInterceptor):
    """Authentication, authorisation and error mapping for every method.

    With ``authenticator=None`` (``--insecure-dev`` only) callers name
    themselves in a metadata header; otherwise the TLS client certificate
    is the only source of identity.
    """

    def __init__(
        self,
        authenticator: PeerAuthenticator | None,
        *,
        policy: AuthorizationPolicy = DEFAULT_POLICY,
        observer: CallObserver | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._policy = policy
        self._observer = observer

    def _identify(self, context: grpc.ServicerContext) -> Principal:
        if self._authenticator is None:
            return _dev_principal(context)
        certs = list(context.auth_context().get("x509_pem_cert", ()))
        pem = certs[0] if certs else None
        return self._authenticator.authenticate(pem if isinstance(pem, bytes | str) else None)

    def _enter(self, method: str, context: grpc.ServicerContext) -> Principal:
        principal = self._identify(context)
        authorize(principal, method, self._policy)
        return principal

    def _observe(self, method: str, code: str, started: float) -> None:
        if self._observer is not None:
            self._observer(method, code, time.perf_counter() - started)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    @contextlib.contextmanager
    def _guard(self, method: str, context: grpc.ServicerContext) -> Iterator[None]:
        """Authenticate and authorise, expose the principal, map errors, observe."""
        started = time.perf_counter()
        code = "OK"
        token = None
        try:
            token = _PRINCIPAL.set(self._enter(method, context))
            yield
            if not context.is_active():  # the caller cancelled; the request stream just ended
                code = "CANCELLED"
        except LinkageError as error:
            code = error.status_hint.name
            abort_for_error(context, error)
        except GeneratorExit:  # a stream closed by grpc: the caller went away mid-stream
            code = "CANCELLED"
            raise
        except Exception as exc:
            code = _aborted_code(context)
            if code == "UNKNOWN" and isinstance(exc, grpc.RpcError) and not context.is_active():
                # the caller cancelled (or its deadline passed) while the call was reading
                # or writing; grpc surfaces that as an RpcError in the request stream (any
                # other exception is a fault of ours, whenever it happens)
                code = "CANCELLED"
                _log.info("%s: the caller ended the call before it finished", method)
            elif code == "UNKNOWN":
                _log.exception("unexpected error in %s", method)
                code = "INTERNAL"
                context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
            raise
        finally:
            if token is not None:
                _PRINCIPAL.reset(token)
            self._observe(method, code, started)

    def _wrap_unary(
        self, method: str, behaviour: Callable[[Any, grpc.ServicerContext], Any]
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with self._guard(method, context):
                return behaviour(request, context)

        return wrapped

    def _wrap_stream(
        self, method: str, behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._guard(method, context):
                yield from behaviour(request, context)

        return wrapped


def _aborted_code(context: grpc.ServicerContext) -> str:
    """The code of a call the servicer (or grpc) already aborted, else UNKNOWN."""
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "UNKNOWN"
