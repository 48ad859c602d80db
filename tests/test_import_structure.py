"""The package's import graph: no circle, and `__init__.py` only re-exports.

Read from the source with `ast` (no TensorFlow start), so it takes well
under a second. Every import counts, also one inside a function and a
package's lazy names (`_LAZY`, `one_keras.utils.lazy_names`): a lazy import that
closes a circle still ties the two modules together.
"""

import ast
import os

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "one_keras"


def module_files():
    """Module name -> path of every `.py` file of the package."""
    modules = {}
    for directory, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(directory, file)
            parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_modules(path, modules):
    """The package's modules that the file at `path` imports."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from a import b` imports `a.b` when that is a module.
            names = [f"{node.module}.{alias.name}"
                     if f"{node.module}.{alias.name}" in modules
                     else node.module for alias in node.names]
        elif _is_lazy_names(node):
            names = [value.value for value in node.value.values]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _is_lazy_names(node):
    """Whether `node` is a package's `_LAZY = {name: module, ...}`."""
    return (isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["_LAZY"]
            and isinstance(node.value, ast.Dict))


def _is_lazy_hook(node):
    """Whether `node` is `__getattr__, __dir__ = lazy_names.attach(...)`."""
    return (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Tuple)
            and [t.id for t in node.targets[0].elts]
            == ["__getattr__", "__dir__"])


def import_graph(modules):
    """Module -> the modules importing it runs.

    Importing `a.b.c` also runs the `__init__.py` of `a.b`, so an edge goes
    to every package above the imported module, except the top package
    (whose `__init__` every module's import runs first) and the packages
    that hold the importing module itself (already being imported).
    """
    graph = {}
    for module, path in modules.items():
        edges = set()
        for target in imported_modules(path, modules):
            parts = target.split(".")
            for end in range(2, len(parts) + 1):
                parent = ".".join(parts[:end])
                if parent in modules and not (
                        module == parent or module.startswith(parent + ".")):
                    edges.add(parent)
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycle(graph):
    """A list of modules forming an import circle, or `None`."""
    state = {}

    def visit(module, stack):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [])
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_circle():
    cycle = find_cycle(import_graph(module_files()))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


# The packages by purpose, lowest first: a module imports only from its own
# package and the packages before it (docs/contributing.md, "The house").
LAYERS = ("utils", "models", "data", "runs", "methods", "reports",
          "analysis", "training", "export", "inference", "cli")
# The top level: the package's names, and the `python -m` entry points.
TOP_LEVEL = {"__init__", "train", "evaluate", "predict"}


def upward_imports(modules, layers=LAYERS):
    """`(module, imported module)` pairs where a package imports one of a
    later layer, or a package that is in no layer."""
    rank = {name: index for index, name in enumerate(layers)}
    found = []
    for module, path in sorted(modules.items()):
        parts = module.split(".")
        if len(parts) < 3 and not path.endswith("__init__.py"):
            continue  # A top-level entry point may import any package.
        if len(parts) < 2:
            continue
        own = parts[1]
        for target in sorted(imported_modules(path, modules)):
            other = target.split(".")[1] if "." in target else None
            if other == own:
                continue
            if other not in rank or own not in rank \
                    or rank[other] > rank[own]:
                found.append((module, target))
    return found


def test_every_package_imports_only_the_layers_below_it():
    upward = upward_imports(module_files())
    assert not upward, "imports against the layers " + \
        f"{' < '.join(LAYERS)}: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_upward_imports_are_found(tmp_path):
    modules = write_package(tmp_path, {
        "p/__init__.py": "",
        "p/utils/__init__.py": "",
        "p/utils/files.py": "def f():\n    from p.cli import tool\n",
        "p/cli/__init__.py": "",
        "p/cli/tool.py": "from p.utils import files\n",
        "p/stray/__init__.py": "",
        "p/stray/thing.py": "from p.utils import files\n",
    })
    assert upward_imports(modules, ("utils", "cli")) == [
        ("p.stray.thing", "p.utils.files"),
        ("p.utils.files", "p.cli.tool")]


def test_the_top_level_holds_only_the_entry_points():
    package = os.path.join(ROOT, PACKAGE)
    top = {name[:-3] for name in os.listdir(package) if name.endswith(".py")}
    assert top <= TOP_LEVEL, (
        f"{sorted(top - TOP_LEVEL)} at the top of {PACKAGE}/: put each in "
        f"the package of its purpose ({', '.join(LAYERS)}).")
    folders = {name for name in os.listdir(package) if os.path.isfile(
        os.path.join(package, name, "__init__.py"))}
    assert folders == set(LAYERS), (
        f"packages {sorted(folders ^ set(LAYERS))}: add a new package to "
        "LAYERS, in its place, and to docs/contributing.md's house.")


def write_package(root, files):
    """Writes `files` (relative path -> text) under `root`; returns the
    module name -> path map `import_graph` reads."""
    modules = {}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        module = name[:-3].replace("/", ".").removesuffix(".__init__")
        modules[module] = str(path)
    return modules


def test_a_circle_through_a_package_init_is_found(tmp_path):
    # The shape the network builder once had: `net` imported
    # `models.common` for an initialiser, and the `models` package
    # `__init__` imports `net` back through `models.registry`.
    modules = write_package(tmp_path, {
        "p/__init__.py": "",
        "p/net.py": "from p.models.common import init\n",
        "p/models/__init__.py": "from p.models.registry import build\n",
        "p/models/common.py": "init = 1\n",
        "p/models/registry.py": "from p.net import thing\n",
    })
    assert find_cycle(import_graph(modules)) == [
        "p.models", "p.models.registry", "p.net", "p.models"]


def test_package_edges_skip_the_importers_own_package(tmp_path):
    modules = write_package(tmp_path, {
        "pkg/__init__.py": "from pkg.sub import thing\n",
        "pkg/sub/__init__.py": "from pkg.sub.a import thing\n",
        "pkg/sub/a.py": "from pkg.sub import b\nthing = 1\n",
        "pkg/sub/b.py": "",
        "pkg/low.py": "def f():\n    from pkg.sub import a\n",
    })
    graph = import_graph(modules)
    assert graph["pkg.sub.a"] == {"pkg.sub.b"}
    assert graph["pkg.low"] == {"pkg.sub", "pkg.sub.a"}  # lazy import too
    assert find_cycle(graph) is None


@pytest.mark.parametrize("module", sorted(
    m for m, p in module_files().items() if p.endswith("__init__.py")))
def test_package_init_only_hands_names_on(module):
    path = module_files()[module]
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    for node in tree.body:
        docstring = (isinstance(node, ast.Expr)
                     and isinstance(node.value, ast.Constant))
        assignment = isinstance(node, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id in ("__all__", "__version__")
            for t in node.targets)
        lazy = _is_lazy_names(node) or _is_lazy_hook(node)
        assert docstring or assignment or lazy or isinstance(
            node, (ast.Import, ast.ImportFrom)), (
            f"{os.path.relpath(path, ROOT)} line {node.lineno}: an "
            "__init__.py only imports and re-exports; put this in a module.")


# What belongs to the ONE method alone (one_keras/methods/one/).
ONE_PACKAGE = "one_keras.methods.one"
ONE_NAMES = {"ONEModel", "UniformGate", "KLRampUp", "ONEOptions",
             "build_one_network", "build_one_model", "build_one_resnet",
             "from_backbone", "one_loss", "one_loss_terms"}


def generic_modules():
    """Every module outside `one_keras.methods`, but the package's own
    `__init__` (which re-exports the public ONE names)."""
    return {module: path for module, path in module_files().items()
            if module != PACKAGE and not module.startswith(
                f"{PACKAGE}.methods")}


def one_specific_uses(path, modules):
    """What in the file at `path` belongs to ONE: imports of its package,
    names of its classes and functions, comparisons with `"one"`."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = sorted(module for module in imported_modules(path, modules)
                   if module == ONE_PACKAGE
                   or module.startswith(ONE_PACKAGE + "."))
    for node in ast.walk(tree):
        name = (node.id if isinstance(node, ast.Name) else
                node.attr if isinstance(node, ast.Attribute) else
                node.name if isinstance(node, ast.alias) else None)
        if name in ONE_NAMES:
            found.append(f"line {node.lineno}: {name}")
        if isinstance(node, ast.Compare) and any(
                isinstance(c, ast.Constant) and c.value == "one"
                for c in [node.left, *node.comparators]):
            found.append(f"line {node.lineno}: a comparison with 'one'")
    return found


@pytest.mark.parametrize("module", sorted(generic_modules()))
def test_generic_modules_do_not_special_case_one(module):
    # A method owns what it deploys and reports: the generic modules ask it
    # (`MethodModel.deployables`, `report_fields`) and never test for ONE.
    uses = one_specific_uses(module_files()[module], module_files())
    assert not uses, (f"{module} names the ONE method ({', '.join(uses)}); "
                      "ask the method model instead.")


def test_the_one_check_finds_what_it_looks_for(tmp_path):
    modules = write_package(tmp_path, {
        "one_keras/__init__.py": "",
        "one_keras/methods/__init__.py": "",
        "one_keras/methods/one/__init__.py": "",
        "one_keras/gen.py": (
            "from one_keras.methods.one import thing\n"
            "def f(model, method):\n"
            "    return isinstance(model, ONEModel) or method == 'one'\n"),
    })
    uses = one_specific_uses(modules["one_keras.gen"], modules)
    assert sorted(uses) == ["line 3: ONEModel",
                            "line 3: a comparison with 'one'",
                            "one_keras.methods.one"]


def test_lazy_names_are_edges(tmp_path):
    modules = write_package(tmp_path, {
        "q/__init__.py": "",
        "q/sub/__init__.py": "_LAZY = {'thing': 'q.sub.a'}\n",
        "q/sub/a.py": "from q.low import x\n",
        "q/low.py": "from q.sub import thing\n",
    })
    graph = import_graph(modules)
    assert graph["q.sub"] == {"q.sub.a"}
    assert find_cycle(graph) == ["q.low", "q.sub", "q.sub.a", "q.low"]


# The run directory's layout is `one_keras.runs`' alone (issue 32): the
# names of its files and its backups.
RUNS_PACKAGE = "one_keras.runs"
LAYOUT_MODULES = {"one_keras.runs.layout", "one_keras.runs.backup"}


def run_layout_uses(path, modules):
    """What in the file at `path` knows a run's layout: imports of
    `LAYOUT_MODULES`, and string constants that are a run file's name
    (a flag's default, a user's file name, aside)."""
    from one_keras.runs import layout
    names = set(layout.RUN_FILES + layout.RUN_FOLDERS)
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    flag_defaults = {id(arg) for node in ast.walk(tree)
                     if isinstance(node, ast.Call)
                     and getattr(node.func, "attr", "").startswith("DEFINE")
                     for arg in node.args}
    found = sorted(f"imports {name}" for name in
                   imported_modules(path, modules) & LAYOUT_MODULES)
    found += [f"line {node.lineno}: {node.value!r}"
              for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and node.value in names
              and id(node) not in flag_defaults]
    return found


@pytest.mark.parametrize("module", sorted(
    m for m in module_files() if m != RUNS_PACKAGE
    and not m.startswith(f"{RUNS_PACKAGE}.")))
def test_only_the_runs_package_knows_a_runs_layout(module):
    modules = module_files()
    uses = run_layout_uses(modules[module], modules)
    assert not uses, (
        f"{module} knows a run directory's layout ({'; '.join(uses)}); "
        "ask `one_keras.runs.RunDirectory` instead.")


def test_the_layout_check_finds_a_path_built_by_hand(tmp_path):
    modules = write_package(tmp_path, {
        "p/__init__.py": "",
        "p/a.py": "import os\nos.path.join('run', 'config.json')\n",
        "p/b.py": "flags.DEFINE_string('output', 'curves.png', 'PNG.')\n",
    })
    modules.update(module_files())
    assert run_layout_uses(modules["p.a"], modules) == [
        "line 2: 'config.json'"]
    assert run_layout_uses(modules["p.b"], modules) == []
