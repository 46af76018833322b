"""Declarative validation of the project's TOML inputs: pydantic models, problems by path.

Every configuration table is a pydantic model derived from :class:`Table` (unknown keys
are errors, types are strict: TOML's integers, floats, strings, booleans, arrays and
tables are known, so nothing is coerced except an integer where a number is asked for).
The models only parse and check shapes and types; the project's domain dataclasses keep
their own checks of values (ranges, cross-field rules) in ``__post_init__``.

:func:`check` validates a parsed document against a model and turns pydantic's
:class:`~pydantic.ValidationError` into the project's :class:`~linkage.errors.Problem`
list: one problem per error, located by its dotted path (``linkage.probabilistic.
refit_growth``, ``features.surname.transforms[1].op``) and with a plain-English reason
(an unknown key is named as unknown, with the closest valid key suggested; a missing
key as required). Values never appear in a reason.

So that every problem is reported at once, :func:`check` also tries to go on past the
problems it found: it drops each offending key (an unknown key, or a value of the wrong
type where the key has a default) and validates again. When that succeeds, the caller
gets a model as well as the problems and can build its domain objects from it, to find
the value problems too (:class:`Findings` collects them, leaving out those that only
follow from a value already named). A missing required key gives no model.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from linkage.errors import InvalidInputError, Problem

__all__ = [
    "Findings",
    "Table",
    "check",
    "close_match",
    "dataclass_default",
    "format_location",
    "unknown_key_reason",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

Segment = str | int


class Table(BaseModel):
    """Base of every configuration table: unknown keys are errors, types are strict,
    the parsed table is immutable. A subclass may set ``model_config["title"]`` to how
    an unknown-key message names it (``"a feature table"``); by default ``[path]``; the
    document's own model names the file (``"server.toml"``) and its keys are tables."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def dataclass_default(cls: type[Any], name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls``: a table's default is the domain
    object's own, never a second copy of it."""
    for field in dataclasses.fields(cls):
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            break
    raise LookupError(f"{cls.__name__}.{name} has no default")


# -- unknown keys ------------------------------------------------------------------------


def close_match(word: str, known: Sequence[str]) -> str | None:
    """The known word a typo most likely meant: a close spelling, or one it begins."""
    starts = [k for k in known if len(word) >= 3 and k.startswith(word)]
    if len(starts) == 1:
        return starts[0]
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_key_reason(key: str, allowed: Sequence[str], what: str, *, kind: str = "key") -> str:
    """``unknown key; did you mean X? (WHAT takes a, b, c)``: the reason for an unknown key."""
    close = close_match(key, allowed)
    hint = f"did you mean {close}? " if close else ""
    takes = ", ".join(allowed) if allowed else "no other keys"
    return f"unknown {kind}; {hint}({what} takes {takes})"


# -- locations ---------------------------------------------------------------------------


def format_location(segments: Iterable[Segment]) -> str:
    """``("features", "x", "transforms", 1, "op")`` -> ``features.x.transforms[1].op``."""
    text = ""
    for segment in segments:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else segment
    return text


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field_named(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def keys_of(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys a table takes, in their declared order."""
    return tuple(info.alias or name for name, info in model.model_fields.items())


@dataclasses.dataclass(frozen=True, slots=True)
class _Place:
    """Where an error's ``loc`` points: the real path (union member tags dropped), the
    table that holds its last key, and the field declared for it (if any)."""

    path: tuple[Segment, ...]
    table: type[BaseModel] | None
    table_path: tuple[Segment, ...]
    field: FieldInfo | None
    #: the type expected at the end of ``path`` (``None``: unknown)
    annotation: Any


def _place(root: type[BaseModel], loc: Sequence[Segment]) -> _Place:
    path: list[Segment] = []
    annotation: Any = root
    table: type[BaseModel] | None = None
    table_path: tuple[Segment, ...] = ()
    field: FieldInfo | None = None
    for segment in loc:
        annotation = _unwrap(annotation)
        if _is_model(annotation) and isinstance(segment, str):
            table, table_path = annotation, tuple(path)
            path.append(segment)
            field = _field_named(annotation, segment)
            annotation = None if field is None else field.annotation
        elif get_origin(annotation) in (dict, Mapping) and isinstance(segment, str):
            path.append(segment)
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) in (list, tuple, Sequence) and isinstance(segment, int):
            path.append(segment)
            annotation = get_args(annotation)[0]
        # else: a union member's tag or a validator's name, not a key of the input
    return _Place(tuple(path), table, table_path, field, annotation)


# -- reasons -----------------------------------------------------------------------------

_TYPE_REASONS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "literal_error": "",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
}


def _what(table: type[BaseModel], table_path: tuple[Segment, ...]) -> str:
    title = table.model_config.get("title")
    if title:
        return str(title)
    return f"[{format_location(table_path)}]"


def _reason(error: ErrorDetails, place: _Place, root: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    description = None if place.field is None else place.field.description
    if kind == "extra_forbidden" and place.table is not None:
        key = str(place.path[-1])
        at_top = place.table is root and not place.table_path
        return unknown_key_reason(
            key,
            keys_of(place.table),
            _what(place.table, place.table_path),
            kind="table" if at_top else "key",
        )
    if kind == "missing":
        return f"is required ({description})" if description else "is required"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if description:
        return f"must be {description}"
    if kind == "literal_error":
        return "must be " + str(ctx.get("expected", "one of the allowed values")).replace("'", "")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }
        bound = next(iter(ctx.values()), "")
        return f"must be {words[kind]} {bound}"
    return _TYPE_REASONS.get(kind) or "is not valid"


def _problems(
    exc: ValidationError, root: type[BaseModel], prefix: tuple[Segment, ...]
) -> tuple[list[Problem], list[tuple[Segment, ...]], bool]:
    """The problems of ``exc``, the paths to drop to go on, and whether it can go on."""
    problems: list[Problem] = []
    drop: list[tuple[Segment, ...]] = []
    can_go_on = True
    for error in exc.errors(include_url=False, include_input=False):
        place = _place(root, error["loc"])
        path = place.path
        # an item of a list of values is named by its list ("consent.purposes")
        if path and isinstance(path[-1], int) and not _is_model(_unwrap(place.annotation)):
            path = path[:-1]
        problem = Problem(format_location((*prefix, *path)), _reason(error, place, root))
        if problem not in problems:
            problems.append(problem)
        if error["type"] == "missing" or not path:
            can_go_on = False
        else:
            drop.append(path)
    return problems, drop, can_go_on


def _drop(data: dict[str, Any], path: tuple[Segment, ...]) -> None:
    """Remove the key at ``path`` from the nested tables of ``data``; a key inside a list
    takes the whole list with it (dropping one item would renumber the others)."""
    holder: Any = data
    key: Segment = path[0]
    for segment in path[1:]:
        try:
            child = holder[key]
        except (KeyError, IndexError, TypeError):
            return
        if isinstance(child, list):
            break
        holder, key = child, segment
    if isinstance(holder, dict):
        holder.pop(key, None)


def check(
    model: type[M], data: object, *, prefix: Sequence[Segment] = ()
) -> tuple[M | None, list[Problem]]:
    """Validate ``data`` against ``model``: the model (``None`` when it cannot be built)
    and every problem found, each named by its dotted path below ``prefix``.

    With problems that only concern keys which can be dropped, the model built without
    those keys is returned beside the problems, so the caller can report value problems
    of the rest as well; it must not use that model for anything else."""
    location_prefix = tuple(prefix)
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems, drop, can_go_on = _problems(exc, model, location_prefix)
    if not can_go_on or not isinstance(data, dict):
        return None, problems
    pruned = copy.deepcopy(data)
    for path in drop:
        _drop(pruned, path)
    try:
        return model.model_validate(pruned), problems
    except ValidationError:
        return None, problems


class Findings:
    """The problems of one input: those of its tables' shapes (from :func:`check`) and
    those its domain objects find when they are built (:meth:`build`).

    A domain problem at or below a location already named is left out: that value was
    dropped to go on, so what the domain object says about its stand-in means nothing."""

    def __init__(self, problems: Iterable[Problem] = ()) -> None:
        self.problems: list[Problem] = list(problems)
        self._named = tuple(p.location for p in self.problems)

    def add(self, problem: Problem) -> None:
        """Add a problem unless it only follows from one already named."""
        location = problem.location
        for named in self._named:
            if location == named or location.startswith((f"{named}.", f"{named}[")):
                return
        if problem not in self.problems:
            self.problems.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    def build(self, factory: Callable[[], T], where: str = "") -> T | None:
        """``factory()``, or ``None`` with its problems added when it raises an
        :class:`~linkage.errors.InvalidInputError` (one without problems is named ``where``)."""
        try:
            return factory()
        except InvalidInputError as exc:
            self.extend(exc.problems or [Problem(where, exc.message)])
            return None

    def __bool__(self) -> bool:
        return bool(self.problems)
