"""The one YAML loader for case files (``settings.yaml``, ``scenarios.yaml``, dashboard uploads).

PyYAML's ``safe_load`` builds no arbitrary objects, but it still expands aliases: nine lines
of a "billion laughs" become 10^9 list items and hang a check with unbounded memory. It also
resolves a repeated key silently (the last one wins). :func:`load_yaml` is stricter, and
rejects everything below while composing the node tree, before any Python object is built:

- aliases and anchors (``&a``/``*a``), and merge keys (``<<``): a case file never needs them;
- a mapping key given twice (named with both lines);
- nesting deeper than :data:`MAX_DEPTH` and text longer than :data:`MAX_CHARS`.

Problems name the file and line and never echo an expanded value. :func:`load_yaml` also
returns the line of every key path, so later validation can say where a bad value is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from planner.errors import FleetDataError, Problem

MAX_CHARS = 1_000_000  # a settings or scenarios file is a few kB
MAX_DEPTH = 32  # deeper nesting is no case file; unbounded depth overflows the composer's stack
MERGE_TAG = "tag:yaml.org,2002:merge"
Path_ = tuple[object, ...]


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data and the 1-based line of each key path.

    Attributes:
        data: The plain Python value (dicts, lists, scalars), or ``None`` for an empty file.
        lines: Line of every mapping key and sequence item, by path (``("solver", "threads")``).
    """

    data: object
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Return the line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class _RejectedError(Exception):
    """A construct the strict loader refuses; carries the message and the fix."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message, self.fix = message, fix


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, anchors, merge keys and deep nesting while composing."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _RejectedError(
                f"line {line}: uses an alias (*{event.anchor})",
                "write the value out in full; aliases and anchors are not accepted "
                "(they can expand a few lines into gigabytes)",
            )
        if getattr(event, "anchor", None) is not None:
            raise _RejectedError(
                f"line {line}: defines an anchor (&{event.anchor})",
                "remove the anchor and write values out in full; aliases and anchors are "
                "not accepted",
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _RejectedError(
                    f"line {line}: nested more than {MAX_DEPTH} levels deep",
                    "flatten the file; see the settings and scenario reference",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_keys(node: Node, path: Path_, lines: dict[Path_, int]) -> None:
    """Record the line of every key path; reject repeated keys and merge keys."""
    if isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _check_keys(item, (*path, i), lines)
        return
    if not isinstance(node, MappingNode):
        return
    first: dict[tuple[str, str], int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == MERGE_TAG:
            raise _RejectedError(
                f"line {line}: uses a merge key (<<)", "write the keys out in full"
            )
        if not isinstance(key_node, ScalarNode):
            raise _RejectedError(f"line {line}: a key is a list or mapping", "use plain text keys")
        ident = (key_node.tag, key_node.value)
        name = _short(key_node.value)
        where = ".".join(str(p) for p in (*path, name))
        if ident in first:
            raise _RejectedError(
                f"line {line}: duplicate key '{where}' (first on line {first[ident]})",
                "keep one of the two; YAML would silently use the last",
            )
        first[ident] = line
        lines[(*path, key_node.value)] = line
        _check_keys(value_node, (*path, key_node.value), lines)


def _short(text: object, limit: int = 60) -> str:
    """Return ``text`` cut to ``limit`` characters, so no message echoes a huge value."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason(exc: yaml.YAMLError) -> str:
    """Return a one-line YAML syntax error with its line number."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["invalid YAML"])[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse the text of a case's YAML file strictly.

    Args:
        text: The file's text.
        file: File name for messages, e.g. ``settings.yaml``.

    Returns:
        The data and the line of every key path.

    Raises:
        FleetDataError: One problem naming the file, the line and the fix, for invalid YAML,
            aliases or anchors, merge keys, repeated keys, too deep nesting or too long text.
    """
    if len(text) > MAX_CHARS:
        raise FleetDataError(
            [
                Problem(
                    file,
                    f"is {len(text):,} characters long, over the {MAX_CHARS:,} limit",
                    "a settings or scenarios file is a few kB; remove what is not settings",
                )
            ],
            header=f"Invalid {file}",
        )
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        if node is not None:
            _check_keys(node, (), lines)
        data = None if node is None else loader.construct_document(node)
    except _RejectedError as exc:
        raise FleetDataError(
            [Problem(file, exc.message, exc.fix)], header=f"Invalid {file}"
        ) from None
    except yaml.YAMLError as exc:
        raise FleetDataError(
            [Problem(file, f"is not valid YAML: {_reason(exc)}", "fix the YAML syntax")],
            header=f"Invalid {file}",
        ) from None
    except (ValueError, OverflowError):
        # e.g. an integer of more than 4,300 digits, which Python refuses to convert
        raise FleetDataError(
            [
                Problem(
                    file,
                    "has a value that cannot be read (for example a number of thousands of digits)",
                    "write plain numbers of ordinary size",
                )
            ],
            header=f"Invalid {file}",
        ) from None
    finally:
        loader.dispose()
    return YamlDocument(data, lines)
