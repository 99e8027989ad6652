"""YAML for files a stranger wrote: bounded, unambiguous, numbers as YAML 1.2 reads them.

:func:`load` is ``yaml.safe_load`` with four guards, each a :class:`YamlProblem` with the line
at fault (the config reader turns it into one InputError line naming the file):

- **duplicate keys** are refused, naming both lines (PyYAML keeps the last silently, so
  ``sweeps: 60`` … ``sweeps: 100000000`` ran the second);
- **nesting** deeper than :data:`MAX_DEPTH` is refused while composing (PyYAML recurses, and
  a few thousand ``[`` end in a RecursionError);
- **aliases** are allowed (the measured examples share a candidate through an anchor), but the
  document *as expanded* may hold at most :data:`MAX_NODES` nodes, counted on the composed
  graph with one memo per node, so a "billion laughs" bomb of ten nested aliases is refused in
  microseconds instead of being walked (or printed) at 10⁹ nodes;
- **floats** are resolved by the YAML 1.2 core schema: ``1e-3`` and ``1.0e6`` are numbers
  (YAML 1.1, PyYAML's default, needs a dot and a signed exponent and leaves them strings).
  ``.inf`` and ``.nan`` stay floats; the validators refuse them where a finite number is due.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from remc_mpi.errors import shown

#: deepest nesting of a document (a config is 4–6 levels deep)
MAX_DEPTH = 64
#: most nodes of a document with its aliases expanded (a config holds a few hundred)
MAX_NODES = 100_000

#: a YAML 1.2 core-schema float (https://yaml.org/spec/1.2.2/#1023-core-schema), plus .inf/.nan
FLOAT_12 = re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                          |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)


class YamlProblem(Exception):
    """Bad YAML: ``problem`` is what is wrong, ``line`` (1-based) where, when known."""

    def __init__(self, problem: str, line: int | None = None):
        super().__init__(problem)
        self.problem, self.line = problem, line


def _line(node: yaml.Node) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader with bounded depth, refused duplicate keys and YAML 1.2 floats."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", _line(self.peek_event()))
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):  # its own keys: a merge (<<) may be overridden
            seen: dict[Any, int | None] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key, False)
                except TypeError:  # an unhashable key: PyYAML's own error says so
                    break
                if first is not False:
                    raise YamlProblem(f"duplicate key {shown(key, 40)} (lines {first} and {_line(key_node)})",
                                      _line(key_node))
                seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_12, list("-+0123456789."))


def expanded_size(root: yaml.Node) -> int:
    """The number of nodes of ``root`` with every alias expanded (memoised per node: linear in
    the composed graph, however large the expansion); stops counting past :data:`MAX_NODES`."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        memo[key] = min(total, MAX_NODES + 1)
        return memo[key]

    return size(root)


def load(text: str) -> Any:
    """The document in ``text`` (None when empty); YamlProblem for bad or hostile YAML."""
    loader = None
    try:
        loader = BoundedLoader(text)  # its reader refuses control characters at once
        root = loader.get_single_node()
        if root is None:
            return None
        if expanded_size(root) > MAX_NODES:
            raise YamlProblem(f"more than {MAX_NODES} values once its aliases are expanded "
                              "(an alias bomb?)", _line(root))
        return loader.construct_document(root)
    except yaml.reader.ReaderError as err:
        raise YamlProblem(f"character #x{err.character:04x} is not allowed in YAML",
                          text.count("\n", 0, err.position) + 1) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise YamlProblem(getattr(err, "problem", None) or "invalid YAML",
                          mark.line + 1 if mark is not None else None) from None
    finally:
        if loader is not None:
            loader.dispose()
