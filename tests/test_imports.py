"""The import graph of ``mdr/``: no module imports itself back, directly or
through others, counting imports inside functions too."""

import ast
import os

from conftest import REPO


def _module_name(path):
  rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
  return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def import_graph(root="mdr"):
  """{module: set of mdr modules it imports}, read from the source (every
  ``import`` and ``from ... import`` anywhere in the file)."""
  files = {}
  for d, _, names in os.walk(os.path.join(REPO, root)):
    for n in names:
      if n.endswith(".py"):
        path = os.path.join(d, n)
        files[_module_name(path)] = path
  graph = {}
  for mod, path in files.items():
    deps = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        # "from mdr import x": x may be a module (the edge goes to it: a
        # package's __init__ running first is how packages load, not a
        # circle) or a name of mdr's package (the edge goes to the package).
        targets = [f"{node.module}.{a.name}"
                   if f"{node.module}.{a.name}" in files else node.module
                   for a in node.names]
      else:
        continue
      for t in targets:
        while t and t not in files:
          t = t.rpartition(".")[0]
        if t and t != mod:
          deps.add(t)
    graph[mod] = deps
  return graph


def cycles(graph):
  """Every elementary cycle reachable by depth-first search (one per back edge)."""
  found, state, stack = [], {}, []

  def visit(m):
    state[m] = 1
    stack.append(m)
    for d in sorted(graph.get(m, ())):
      if state.get(d) == 1:
        found.append(stack[stack.index(d):] + [d])
      elif d not in state:
        visit(d)
    stack.pop()
    state[m] = 2

  for m in sorted(graph):
    if m not in state:
      visit(m)
  return found


def test_cycle_finder_finds_a_planted_cycle():
  assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
  assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_mdr():
  graph = import_graph()
  assert "mdr.train" in graph and "mdr.evaluate" in graph["mdr.train"]
  # A package's __init__ importing its own submodules is how packages are
  # built, not a circle: edges from a submodule to its parent package that
  # only name a sibling were resolved to the sibling above.
  found = [c for c in cycles(graph)
           if not all(b.startswith(a + ".") or a.startswith(b + ".")
                      for a, b in zip(c, c[1:]))]
  assert not found, "\n".join(" -> ".join(c) for c in found)


def _experiment_files(skip=("specs", "reference")):
  for d, dirs, names in os.walk(os.path.join(REPO, "experiments")):
    dirs[:] = [x for x in dirs if x not in skip and x != "results"]
    for n in names:
      if n.endswith(".py"):
        yield os.path.join(d, n)


def test_experiments_hold_no_path_hacks_run_name_grammar_or_attack_names():
  """``experiments/`` is a package (no ``sys.path.insert``), reads groups and
  runs from its specs (no regular expression over run names) and names no
  attack outside the registries and the specs (``experiments/specs/``, the
  data): every string constant equal to a registered attack name is one."""
  from mdr import attacks  # pylint: disable=g-import-not-at-top
  names = set(attacks.names())
  found = []
  for path in _experiment_files():
    tree = ast.parse(open(path).read(), path)
    rel = os.path.relpath(path, REPO)
    for node in ast.walk(tree):
      if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr == "insert"
          and isinstance(node.func.value, ast.Attribute)
          and node.func.value.attr == "path"):
        found.append(f"{rel}:{node.lineno}: sys.path.insert")
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""])
        # Benchmarks parse compiler output; nothing else parses text.
        if "re" in mods and not os.path.basename(path).startswith("bench_"):
          found.append(f"{rel}:{node.lineno}: imports re")
      if (isinstance(node, ast.Constant) and isinstance(node.value, str)
          and node.value in names):
        found.append(f"{rel}:{node.lineno}: attack name {node.value!r}")
  assert not found, found
  # The scan sees the specs' names when it is pointed at them.
  specs_dir = os.path.join(REPO, "experiments", "specs", "matrix.py")
  tree = ast.parse(open(specs_dir).read())
  assert any(isinstance(n, ast.Constant) and n.value == "alpha"
             for n in ast.walk(tree))
  assert not os.path.exists(os.path.join(REPO, "experiments", "cifar10.py"))
  assert not [n for n in os.listdir(os.path.join(REPO, "experiments"))
              if n.endswith(".sh")]
