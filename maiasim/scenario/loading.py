"""Reading a scenario file: bounded at every step, executing nothing from the file.

Only a regular file of at most :data:`MAX_FILE_BYTES` is read (a FIFO or device could block or
never end), as UTF-8. It is parsed by a ``yaml.SafeLoader`` that refuses, while composing and
before anything is built, documents nested deeper than :data:`MAX_DEPTH` or expanding to more
than :data:`MAX_NODES` nodes (aliases counted at every use), and keys given twice. Every failure is
one :class:`ScenarioError` (:class:`LimitExceeded` for a limit) naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from ..errors import LimitExceeded, ScenarioError
from .limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from .overrides import apply_overrides
from .schema import Scenario, from_dict

__all__ = ["load_scenario", "load_yaml", "read_scenario_text"]


class _Refused(yaml.MarkedYAMLError):
    """A YAML document over the loader's limits."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents nested deeper than :data:`MAX_DEPTH` or expanding
    to more than :data:`MAX_NODES` nodes, an alias counting its target's nodes at every use. Both
    are counted while the document is composed, so an alias bomb or a huge list is refused after at
    most MAX_NODES nodes of work, before anything is built from it."""

    def __init__(self, stream: str, name: str = "<string>"):
        super().__init__(stream)
        self.name = name
        self._depth = 0
        self._total = 0  # expanded nodes so far
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, height)

    def fetch_flow_collection_start(self, TokenClass):
        """Refuse deep flow nesting as it is scanned: the scanner looks up to 1024 characters ahead
        for a possible key, and at each flow level that lookahead costs more."""
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column):
        """Refuse deep block nesting as it is scanned, before the parser recurses into it."""
        if len(self.indents) >= MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        return super().add_indent(column)

    def compose_node(self, parent, index):
        """Compose one node, counting it (an alias: its target's expanded size) against the
        limits."""
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise _Refused(None, None, "an alias inside the node it refers to (a recursive "
                               "alias) cannot be a scenario", mark)
            self._count(self._sizes[id(node)][0], mark)
            return node
        self._count(1, mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._measure(node, mark)
        return node

    def _count(self, nodes: int, mark) -> None:
        self._total += nodes
        if self._total > MAX_NODES:
            raise _Refused(None, None, f"the document expands to more than {MAX_NODES} nodes "
                           "(an alias counts its target at every use)", mark)

    def _measure(self, node: yaml.Node, mark) -> None:
        """Record the node's expanded size and height, for the aliases that refer to it."""
        if isinstance(node, yaml.ScalarNode):
            kids: list = []
        elif isinstance(node, yaml.SequenceNode):
            kids = node.value
        else:
            kids = [n for pair in node.value for n in pair]
        sizes = [self._sizes[id(k)] for k in kids]
        height = 1 + max((h for _, h in sizes), default=0)
        if height > MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels once aliases "
                           "are expanded", mark)
        self._sizes[id(node)] = (1 + sum(n for n, _ in sizes), height)

    def construct_mapping(self, node, deep=False):
        """Refuse a key given twice in one mapping: plain YAML keeps the last one silently, so
        ``{cv: 1000000, cv: 2}`` would run with cv 2 and no word said."""
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise yaml.constructor.ConstructorError(
                            "while reading a mapping", node.start_mark,
                            f"the key {key.value!r} is given twice", key.start_mark)
                    seen.add(key.value)
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        """Build one value; a scalar Python cannot represent becomes a YAML error at its line."""
        try:
            return super().construct_object(node, deep)
        except ValueError as e:  # an integer of thousands of digits, a date like 2001-02-30
            what = str(e).split(";")[0]
            raise yaml.constructor.ConstructorError(None, None, what, node.start_mark) from None


def load_yaml(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document within the loader's limits; any failure is a ScenarioError."""
    loader = None
    try:
        loader = _BoundedLoader(text, source)
        return loader.get_single_data()
    except _Refused as e:
        raise LimitExceeded(f"{source}: refused: {e}") from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{source}: not valid YAML: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_scenario_text(path: str | Path) -> str:
    """The text of a scenario file: a regular file (never a FIFO or device, which could block or
    never end) of at most :data:`MAX_FILE_BYTES`, in UTF-8."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {p}") from None
    except (OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or e
        raise ScenarioError(f"cannot read scenario file {p}: {why}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ScenarioError(f"{p}: not a regular file (a scenario must be a YAML file)")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise ScenarioError(f"cannot read scenario file {p}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise LimitExceeded(f"{p}: larger than {MAX_FILE_BYTES >> 20} MiB; a scenario file is a "
                            "few kB (traces go in separate CSV files)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                            f"{e.start}); save the file as UTF-8") from None


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario YAML file; ``overrides`` are dotted paths applied first.

    Relative trace paths in the file are relative to the file's directory."""
    p = Path(path)
    data = load_yaml(read_scenario_text(p), str(p))
    if overrides:
        if not isinstance(data, dict):
            raise ScenarioError(f"invalid scenario: the top level must be a mapping, "
                                f"got {type(data).__name__}")
        apply_overrides(data, overrides)
    return from_dict(data, base_dir=p.resolve().parent)


def as_scenario(scenario: object, caller: str = "simulate()") -> Scenario:
    """A :class:`Scenario` from what the front doors accept: a Scenario, a dict (validated like
    :func:`from_dict`) or a path to a YAML file; a TypeError names ``caller`` otherwise."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return from_dict(scenario)
    if isinstance(scenario, (str, os.PathLike)):
        return load_scenario(scenario)
    raise TypeError(f"{caller} takes a Scenario, a dict (see maiasim.from_dict) or a path to a "
                    f"YAML file, not {type(scenario).__name__}")
