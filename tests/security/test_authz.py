"""The role × RPC table over every RPC the protos define, and the same-agency rule."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import linkage.v1
from linkage.errors import InvalidInputError, PermissionDeniedError
from linkage.pki import Principal, Role
from linkage.security import (
    DEFAULT_POLICY,
    AuthorizationPolicy,
    authorize,
    is_authorized,
    require_same_agency,
    split_method_name,
)

pytestmark = pytest.mark.unit

PRINCIPALS = {
    Role.AGENCY: Principal(Role.AGENCY, "valley-mhc", "it", 1),
    Role.RESPONDER: Principal(Role.RESPONDER, "valley-mhc", "gw", 2),
    Role.OPERATOR: Principal(Role.OPERATOR, None, "op", 3),
    Role.SERVER: Principal(Role.SERVER, None, "matcher", 4),
}

# Written out independently of the policy: which role owns which service.
EXPECTED_OWNER = {
    "linkage.v1.IngestService": Role.AGENCY,
    "linkage.v1.LookupService": Role.RESPONDER,
    "linkage.v1.OperatorService": Role.OPERATOR,
}
OPEN_METHODS = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
]


def _proto_methods() -> list[tuple[str, str]]:
    """(service, /service/method) for every RPC in the generated linkage.v1 modules."""
    found: list[tuple[str, str]] = []
    for info in pkgutil.iter_modules(linkage.v1.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"linkage.v1.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append((service.full_name, f"/{service.full_name}/{method.name}"))
    return sorted(found)


PROTO_METHODS = _proto_methods()


def test_the_protos_define_rpcs_and_every_service_has_an_owner() -> None:
    assert len(PROTO_METHODS) >= 10
    assert {service for service, _ in PROTO_METHODS} == set(EXPECTED_OWNER)
    assert set(DEFAULT_POLICY.service_roles) == set(EXPECTED_OWNER)


@pytest.mark.parametrize(("service", "method"), PROTO_METHODS)
@pytest.mark.parametrize("role", list(Role))
def test_full_role_by_rpc_matrix(service: str, method: str, role: Role) -> None:
    principal = PRINCIPALS[role]
    if EXPECTED_OWNER[service] is role:
        authorize(principal, method)
        assert is_authorized(principal, method)
    else:
        with pytest.raises(PermissionDeniedError, match=f"role {role.value} may not call"):
            authorize(principal, method)
        assert not is_authorized(principal, method)


@pytest.mark.parametrize("method", OPEN_METHODS)
@pytest.mark.parametrize("role", list(Role))
def test_health_and_reflection_are_open_to_every_authenticated_role(
    method: str, role: Role
) -> None:
    authorize(PRINCIPALS[role], method)


@pytest.mark.parametrize(
    "method",
    [
        "/linkage.v1.SecretService/Dump",
        "/linkage.v2.LookupService/Lookup",
        "/grpc.health.v2.Health/Check",
        "linkage.v1.LookupService/Lookup",
        "/linkage.v1.LookupService",
        "/linkage.v1.LookupService/Lookup/extra",
        "//Lookup",
        "",
    ],
)
@pytest.mark.parametrize("role", list(Role))
def test_unknown_or_malformed_methods_are_denied(method: str, role: Role) -> None:
    with pytest.raises(PermissionDeniedError):
        authorize(PRINCIPALS[role], method)


def test_a_method_override_replaces_its_service_entry() -> None:
    policy = AuthorizationPolicy(
        service_roles={"pkg.Ingest": {Role.AGENCY}},
        method_roles={"/pkg.Ingest/Audit": {Role.OPERATOR}},
    )
    authorize(PRINCIPALS[Role.OPERATOR], "/pkg.Ingest/Audit", policy)
    with pytest.raises(PermissionDeniedError):
        authorize(PRINCIPALS[Role.AGENCY], "/pkg.Ingest/Audit", policy)
    authorize(PRINCIPALS[Role.AGENCY], "/pkg.Ingest/Write", policy)
    assert policy.allowed_roles("/pkg.Ingest/Write") == frozenset({Role.AGENCY})


def test_the_policy_is_immutable_data() -> None:
    source = {"pkg.S": {Role.AGENCY}}
    policy = AuthorizationPolicy(service_roles=source)
    source["pkg.S"].add(Role.OPERATOR)
    source["pkg.T"] = {Role.OPERATOR}
    assert policy.allowed_roles("/pkg.S/M") == frozenset({Role.AGENCY})
    assert policy.allowed_roles("/pkg.T/M") == frozenset()
    with pytest.raises(TypeError):
        policy.service_roles["pkg.U"] = frozenset()  # type: ignore[index]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"service_roles": {"NoPackage": {Role.AGENCY}}},
        {"service_roles": {"pkg.S/M": {Role.AGENCY}}},
        {"service_roles": {"pkg.S": {"agency"}}},
        {"service_roles": {}, "method_roles": {"pkg.S.M": {Role.AGENCY}}},
        {"service_roles": {"pkg.S": {Role.AGENCY}}, "open_services": {"pkg.S"}},
    ],
)
def test_policy_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        AuthorizationPolicy(**kwargs)  # type: ignore[arg-type]


def test_split_method_name() -> None:
    assert split_method_name("/a.B/C") == ("a.B", "C")
    with pytest.raises(InvalidInputError):
        split_method_name("a.B/C")


def test_denial_message_names_role_and_method_only() -> None:
    with pytest.raises(PermissionDeniedError) as info:
        authorize(PRINCIPALS[Role.RESPONDER], "/linkage.v1.IngestService/WriteBatch")
    assert str(info.value) == "role responder may not call /linkage.v1.IngestService/WriteBatch"
    assert info.value.status_hint.value == "permission_denied"


def test_an_agency_may_act_only_on_its_own_records() -> None:
    require_same_agency(PRINCIPALS[Role.AGENCY], "valley-mhc")
    require_same_agency(PRINCIPALS[Role.RESPONDER], "valley-mhc")
    with pytest.raises(PermissionDeniedError, match="another agency's records"):
        require_same_agency(PRINCIPALS[Role.AGENCY], "metro-pd")
    for role in (Role.OPERATOR, Role.SERVER):
        with pytest.raises(PermissionDeniedError, match="does not act for an agency"):
            require_same_agency(PRINCIPALS[role], "valley-mhc")
