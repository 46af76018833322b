"""Authorisation: a declarative role × RPC table and the one function that applies it.

The table is data: services map to the roles that may call any of their
methods, individual methods can override their service, and a set of
``open_services`` (health, reflection) is callable by every authenticated
principal. Anything not in the table is denied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import MappingProxyType

from linkage.errors import InvalidInputError, PermissionDeniedError
from linkage.pki import Principal, Role

__all__ = [
    "DEFAULT_POLICY",
    "AuthorizationPolicy",
    "authorize",
    "is_authorized",
    "require_same_agency",
    "split_method_name",
]


_NOBODY: frozenset[Role] = frozenset()


def split_method_name(full_method: str) -> tuple[str, str]:
    """Split ``/package.Service/Method`` into ``("package.Service", "Method")``."""
    if not isinstance(full_method, str) or not full_method.startswith("/"):
        raise InvalidInputError("rpc method: must look like /package.Service/Method")
    parts = full_method[1:].split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise InvalidInputError("rpc method: must look like /package.Service/Method")
    return parts[0], parts[1]


def _frozen_roles(
    mapping: Mapping[str, Iterable[Role]], what: str
) -> Mapping[str, frozenset[Role]]:
    result: dict[str, frozenset[Role]] = {}
    for key, roles in mapping.items():
        role_set = frozenset(roles)
        if not all(isinstance(role, Role) for role in role_set):
            raise InvalidInputError(f"{what}[{key!r}]: every entry must be a Role")
        result[key] = role_set
    return MappingProxyType(result)


@dataclass(frozen=True, slots=True)
class AuthorizationPolicy:
    """Who may call what.

    ``service_roles``: fully qualified service name → roles allowed on all its methods.
    ``method_roles``: ``/package.Service/Method`` → roles, replacing the service's entry.
    ``open_services``: services every authenticated principal may call.
    """

    service_roles: Mapping[str, AbstractSet[Role]]
    method_roles: Mapping[str, AbstractSet[Role]] = field(default_factory=dict)
    open_services: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "service_roles", _frozen_roles(self.service_roles, "service_roles")
        )
        object.__setattr__(self, "method_roles", _frozen_roles(self.method_roles, "method_roles"))
        object.__setattr__(self, "open_services", frozenset(self.open_services))
        for service in (*self.service_roles, *self.open_services):
            if not service or "/" in service or "." not in service:
                raise InvalidInputError(
                    f"policy: service {service!r} must be a fully qualified name like pkg.Service"
                )
        for method in self.method_roles:
            split_method_name(method)
        overlap = set(self.service_roles) & self.open_services
        if overlap:
            raise InvalidInputError(
                f"policy: services both open and restricted: {', '.join(sorted(overlap))}"
            )

    def allowed_roles(self, full_method: str) -> AbstractSet[Role]:
        """The roles allowed to call ``full_method`` (empty: nobody)."""
        service, _ = split_method_name(full_method)
        if full_method in self.method_roles:
            return self.method_roles[full_method]
        if service in self.open_services:
            return frozenset(Role)
        return self.service_roles.get(service, _NOBODY)


#: The production table. Ingest is for agency IT, lookup for responders,
#: operator calls for operators; health and reflection for anyone authenticated.
DEFAULT_POLICY = AuthorizationPolicy(
    service_roles={
        "linkage.v1.IngestService": frozenset({Role.AGENCY}),
        "linkage.v1.LookupService": frozenset({Role.RESPONDER}),
        "linkage.v1.OperatorService": frozenset({Role.OPERATOR}),
    },
    open_services=frozenset(
        {
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        }
    ),
)


def is_authorized(
    principal: Principal, full_method: str, policy: AuthorizationPolicy = DEFAULT_POLICY
) -> bool:
    """True if ``principal`` may call ``full_method`` under ``policy``. Malformed names: False."""
    try:
        return principal.role in policy.allowed_roles(full_method)
    except InvalidInputError:
        return False


def authorize(
    principal: Principal, full_method: str, policy: AuthorizationPolicy = DEFAULT_POLICY
) -> None:
    """Raise PermissionDeniedError unless ``principal``'s role may call ``full_method``."""
    if not is_authorized(principal, full_method, policy):
        raise PermissionDeniedError(
            f"role {principal.role.value} may not call {_printable(full_method)}"
        )


def require_same_agency(principal: Principal, agency_id: str) -> None:
    """Raise PermissionDeniedError unless ``principal`` belongs to ``agency_id``.

    The rule "an agency may only write, update and withdraw its own records":
    servicers call this with the agency a request names.
    """
    if principal.agency_id is None:
        raise PermissionDeniedError(f"role {principal.role.value} does not act for an agency")
    if principal.agency_id != agency_id:
        raise PermissionDeniedError(
            f"a principal of agency {principal.agency_id!r} may not act on another agency's records"
        )


def _printable(full_method: str) -> str:
    if isinstance(full_method, str) and full_method.isprintable() and len(full_method) <= 200:
        return full_method
    return "a malformed method name"
