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
type where the key has a default) and validates again, a few rounds at most (a table's
own rule, a ``model_validator``, only runs once its keys are valid, so its problem is
found then). When that succeeds, the caller gets a model as well as the problems and can
build its domain objects from it, to find the value problems too (:class:`Findings`
collects them, leaving out those that only follow from a value already named). A missing
required key gives no model.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Final, Literal, TypeAlias, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Tag, ValidationError
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
#: The language of an input: TOML (tables, lists) or JSON (objects, arrays).
Style: TypeAlias = Literal["toml", "json"]
#: How often :func:`check` drops the keys of the problems it found and tries again.
_MAX_ROUNDS: Final = 4


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
    #: the length of the path to ``field``
    field_depth: int = 0


def _tagged(union: Any, tag: str) -> Any:
    """The member of a tagged union (``Annotated[Model, Tag("x")]``) whose tag is ``tag``."""
    for member in get_args(union):
        if get_origin(member) is Annotated and any(
            isinstance(m, Tag) and m.tag == tag for m in member.__metadata__
        ):
            return member
    return None


def _place(root: type[BaseModel], loc: Sequence[Segment]) -> _Place:
    path: list[Segment] = []
    annotation: Any = root
    table: type[BaseModel] | None = None
    table_path: tuple[Segment, ...] = ()
    field: FieldInfo | None = None
    field_depth = 0
    for segment in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if _is_model(annotation) and isinstance(segment, str):
            table, table_path = annotation, tuple(path)
            path.append(segment)
            field, field_depth = _field_named(annotation, segment), len(path)
            annotation = None if field is None else field.annotation
        elif origin in (dict, Mapping) and isinstance(segment, str):
            path.append(segment)
            annotation = get_args(annotation)[1]
        elif origin in (list, tuple, Sequence) and isinstance(segment, int):
            path.append(segment)
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType) and isinstance(segment, str):
            # a tagged union names its member: go on in that member
            member = _tagged(annotation, segment)
            annotation = annotation if member is None else member
        # else: a validator's name, not a key of the input
    return _Place(tuple(path), table, table_path, field, annotation, field_depth)


# -- reasons -----------------------------------------------------------------------------

#: What a TOML file and a JSON document call a table and a list.
_WORDS: Final = {
    "toml": {"a_table": "a table", "a_list": "a list"},
    "json": {"a_table": "an object", "a_list": "an array"},
}

_TYPE_REASONS: Final = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be finite",
    "bool_type": "must be true or false",
    "list_type": "must be {a_list}",
    "tuple_type": "must be {a_list}",
    "dict_type": "must be {a_table}",
    "model_type": "must be {a_table}",
    "model_attributes_type": "must be {a_table}",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "multiple_of": "must be a multiple of {multiple_of}",
}


def _what(table: type[BaseModel], table_path: tuple[Segment, ...], style: Style) -> str:
    title = table.model_config.get("title")
    if title:
        return str(title)
    where = format_location(table_path)
    return where if style == "json" else f"[{where}]"


def _reason(
    error: ErrorDetails,
    place: _Place,
    path: tuple[Segment, ...],
    prefix: tuple[Segment, ...],
    style: Style,
) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    # a field's description says what its own value must be, not what a nested one must
    own = place.field is not None and len(path) == place.field_depth
    description = place.field.description if own and place.field is not None else None
    if kind == "extra_forbidden" and place.table is not None:
        at_top = style == "toml" and not prefix and not place.table_path
        return unknown_key_reason(
            str(place.path[-1]),
            keys_of(place.table),
            _what(place.table, (*prefix, *place.table_path), style),
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
    template = _TYPE_REASONS.get(kind)
    if template is None:
        return "is not valid"
    return template.format(**_WORDS[style], **{k: str(v) for k, v in ctx.items()})


def _problems(
    exc: ValidationError,
    root: type[BaseModel],
    prefix: tuple[Segment, ...],
    style: Style,
    dropped: Sequence[tuple[Segment, ...]],
) -> tuple[list[Problem], list[tuple[Segment, ...]], bool]:
    """The problems of ``exc`` (none at or below a path dropped before: those only follow
    from dropping it), the paths to drop to go on, and whether it can go on."""
    problems: list[Problem] = []
    drop: list[tuple[Segment, ...]] = []
    can_go_on = True
    for error in exc.errors(include_url=False, include_input=False):
        place = _place(root, error["loc"])
        path = place.path
        # an item of a list of values is named by its list ("consent.purposes")
        if path and isinstance(path[-1], int) and not _is_model(_unwrap(place.annotation)):
            path = path[:-1]
        if any(path[: len(gone)] == gone for gone in dropped):
            can_go_on = False
            continue
        problem = Problem(
            format_location((*prefix, *path)), _reason(error, place, path, prefix, style)
        )
        if problem not in problems:
            problems.append(problem)
        if error["type"] == "missing" or not path:
            can_go_on = False
        else:
            drop.append(path)
    return problems, drop, can_go_on


def _drop(data: dict[str, Any], path: tuple[Segment, ...]) -> tuple[Segment, ...]:
    """Remove the key at ``path`` from ``data`` (items of lists keep their places); an
    item that is itself bad takes its whole list with it, since removing it would
    renumber the others. Returns the path of what was removed."""
    chain: list[Any] = [data]
    for segment in path[:-1]:
        try:
            chain.append(chain[-1][segment])
        except (KeyError, IndexError, TypeError):
            return path
    depth = len(path)
    while depth > 1 and not isinstance(chain[depth - 1], dict):
        depth -= 1  # the holder is a list: remove the list from its own holder
    holder = chain[depth - 1]
    if isinstance(holder, dict):
        holder.pop(path[depth - 1], None)
    return path[:depth]


def check(
    model: type[M],
    data: object,
    *,
    prefix: Sequence[Segment] = (),
    style: Style = "toml",
    context: Mapping[str, Any] | None = None,
) -> tuple[M | None, list[Problem]]:
    """Validate ``data`` against ``model``: the model (``None`` when it cannot be built)
    and every problem found, each named by its path below ``prefix``.

    ``style`` is the input's language: ``"toml"`` (tables and lists; an unknown key of the
    document itself is an unknown table) or ``"json"`` (objects and arrays; give
    ``prefix=("$",)`` for ``$.features[2].format`` paths). ``context`` reaches the models'
    validators (what they check against: the features a schema declares, ...).

    With problems that only concern keys which can be dropped, the model built without
    those keys is returned beside the problems, so the caller can report value problems
    of the rest as well; it must not use that model for anything else."""
    location_prefix = tuple(prefix)
    problems: list[Problem] = []
    dropped: list[tuple[Segment, ...]] = []
    current = data
    for _ in range(_MAX_ROUNDS):
        try:
            return model.model_validate(current, context=context), problems
        except ValidationError as exc:
            found, drop, can_go_on = _problems(exc, model, location_prefix, style, dropped)
        problems.extend(p for p in found if p not in problems)
        if not can_go_on or not drop or not isinstance(current, dict):
            break
        pruned = copy.deepcopy(current)
        dropped.extend(_drop(pruned, path) for path in drop)
        current = pruned
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
