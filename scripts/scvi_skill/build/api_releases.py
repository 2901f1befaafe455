"""Per-release API indexes: one scvi-tools sdist in, its public names and signatures out.

For each release the maintainer command ``scripts/build_api_index.py`` reads ``scvi/`` with
``ast`` (the same :func:`~scvi_skill.build.source.sourcemap.build_source_map` as the maps;
sdists up to 1.0.x have ``scvi/`` at the top instead of ``src/scvi/``) and keeps what the
code checker needs (:mod:`scvi_skill.runtime.apiindex` reads it):

- ``namespaces``: public dotted name -> defining qualname (members through the MRO);
- ``symbols``: qualname -> kind, path, line, public names, parameters with defaults,
  ``var_kwargs``, ``params_known``, ``classmethod``, ``mro``, and for classes whether every
  member is known (``closed``; not when a class defines ``__getattr__``), the attributes
  their bodies set (``attrs``), their own private methods (``private``: for the history
  alone, left out of the files) and, for a model, the module and training plan classes it
  uses (``uses``); for a def or property, the in-tree class its return annotation names
  (``returns``: ``HubModel.metadata`` -> ``HubMetadata``), or ``"cls"`` for a classmethod
  whose every ``return`` gives ``cls(...)``;
- ``set_outside``: the attribute names the package sets on objects other than ``self``
  (``self.model.trainer = ...``), each with its first sites: the checker never calls a
  read of one missing;
- ``loads``: for ``scvi`` and each public subpackage, the subpackages importing it loads
  (``import scvi`` alone leaves ``scvi.hub`` and ``scvi.autotune`` out in 1.5.1);
- ``kwargs_to`` where it is statically clear where a callable's ``**kwargs`` go:
  ``register_fields`` (``setup_anndata``: rejected) or ``trainer`` (``train``: the keywords of
  ``TrainRunner``, ``scvi.train.Trainer`` and the Lightning ``Trainer``, listed once per
  release as ``trainer_keywords``) or ``class`` (a class's ``__init__`` hands them to one
  class, ``kwargs_target``: a model's ``self._module_cls(..., **model_kwargs)``, its
  ``uses["module"]``; ``kwargs_keys``: the parameters of the ``__init__`` methods
  ``super().__init__(**kwargs)`` passes them through first); ``kwargs_fixed``: the keywords
  the call those ``**kwargs`` go to already passes itself (a second value raises
  ``TypeError``); ``kwargs_drops``: ``[parameter, class]`` for a classmethod that first
  deletes from its ``**kwargs`` the keys that parameter's ``init_params_`` hold (keywords
  that class took: ``SCANVI.from_scvi_model``'s ``scvi_model``, an SCVI), then calls ``cls``;
- ``splat_fixed``: for a dict parameter passed on as ``**`` beside keywords the call sets
  itself (``datasplitter_kwargs``), those keywords (the same ``TypeError`` for such a key);
  ``splat_setup_args``: ``[line, model, keys]`` for a dict parameter passed on beside another
  model's saved setup arguments (``**registry[_SETUP_ARGS_KEY]``; the model a parameter is
  annotated with), that model's setup parameters (DestVI.from_rna_model's
  ``anndata_setup_kwargs`` and CondSCVI's ``layer``: the same ``TypeError``);
  ``kwargs_overwritten``: for a dict parameter, the keys the method then sets itself
  (``plan_kwargs.update(update_dict)``), whose given value is replaced without an error.
- ``automatic_optimization``: ``[line, value]`` for a class whose ``__init__`` sets it
  (a training plan that optimizes by hand: Lightning then rejects ``gradient_clip_val``).
- ``unread``: for a public def, the parameters its body never reads (a keyword given there
  changes nothing); for a class, public or the ``kwargs_target`` of one, those of its own
  ``__init__`` (``RESOLVI(adata, latent_distribution=...)`` reaches RESOLVAE's, never read).
- ``unread_keywords``: for a model whose module's ``generative()`` takes ``transform_batch``
  or its ``inference()`` ``n_samples`` and never reads it (SysVI's SysVAE), ``{method:
  [[keyword, module method], ...]}`` for the methods that hand it on: they accept it, and
  every cell is decoded with its own batch, or no sample axis is drawn.
- ``new_returns``: for a class whose own ``__new__`` returns instances of other classes of
  the tree (MRVI of 1.4.x: ``TorchMRVI`` or ``JaxMRVI``), those classes in source order:
  what an instance's members are.

:func:`build_history` turns the releases into spans: for each public name and each
parameter of a public callable, the runs of consecutive releases that have it; and for each
parameter whose default changed, the runs of releases with each default (``defaults``:
``[default as written or null for none, first, last]``). What a public name's spans do not
say: the releases whose package imports it without listing it in ``__all__`` (``bound``),
the releases whose source defines its def while no public name does (``defined``), and for
a class member the releases where a base of another package may supply it
(``outside``) and those whose class had it as a private method (``private``: from each
class's ``private`` list, which the per-release files leave out). :func:`build_gone_messages`
lists,
for each message an earlier release (0.x ones included) raises or warns with and the last
one does not, its releases and its site in the last release that had it.

Paths are as in the sdist (``scvi/...`` for flat releases, ``src/scvi/...`` after).
"""

from __future__ import annotations

import ast
import copy
import gzip
import json
import re
from pathlib import Path

from scvi_skill.build.dependency_uses import (
    DEPENDENCY_ALIASES,
    DEPENDENCY_USES,
    build_dependency_uses,
    release_uses,
)
from scvi_skill.build.mapfiles import ReadLog
from scvi_skill.build.source.cards import class_conditioned_statements
from scvi_skill.build.source.messages import read_messages
from scvi_skill.build.source.pyast import is_self_attr
from scvi_skill.build.source.sourcemap import build_source_map
from scvi_skill.build.source.unread import (
    reads,
    unread_args,
    unread_init,
    unread_module_keywords,
)
from scvi_skill.runtime.apifiles import DEPENDENCY_USES_FILE
from scvi_skill.runtime.apiindex import (
    API_FORMAT,
    REGENERATE_API,
    class_level,
    release_file_name,
)
from scvi_skill.runtime.history import index_spans
from scvi_skill.runtime.messages import template_words
from scvi_skill.runtime.requirements import requirement_name
from scvi_skill.runtime.schema import FIELD_BASES, SETUP_METHODS, TRIVIAL_BASES, base_name
from scvi_skill.runtime.tree import Tree

LIGHTNING_TRAINER_PARAMS = (
    "accelerator", "accumulate_grad_batches", "barebones", "benchmark", "callbacks",
    "check_val_every_n_epoch", "default_root_dir", "detect_anomaly", "deterministic", "devices",
    "enable_autolog_hparams", "enable_checkpointing", "enable_model_summary",
    "enable_progress_bar", "fast_dev_run", "gradient_clip_algorithm", "gradient_clip_val",
    "inference_mode", "limit_predict_batches", "limit_test_batches", "limit_train_batches",
    "limit_val_batches", "log_every_n_steps", "logger", "max_epochs", "max_steps", "max_time",
    "min_epochs", "min_steps", "model_registry", "num_nodes", "num_sanity_val_steps",
    "overfit_batches", "plugins", "precision", "profiler", "reload_dataloaders_every_n_epochs",
    "strategy", "sync_batchnorm", "use_distributed_sampler", "val_check_interval",
)
"""``lightning.pytorch.Trainer.__init__`` keywords, union of Lightning 2.0-2.6 (read with
``inspect.signature`` from 2.6.6; 2.0 lacks only the last two added). scvi-tools 1.x pins
Lightning 2.x."""
RUNNER_CALLS = frozenset({"TrainRunner", "_train_runner_cls"})
"""Callees that take ``train()``'s ``**trainer_kwargs`` on to the Trainer."""
TORCH_MODULE_MEMBERS = frozenset({
    # torch.nn.Module (dir() of torch 2.x)
    "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward",
    "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu",
    "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules",
    "named_parameters", "parameters", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
    "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "type", "xpu", "zero_grad",
})
EXTERNAL_MEMBERS = TORCH_MODULE_MEMBERS | {
    # LightningModule / flax.linen.Module members a subclass may still get from outside
    "configure_optimizers", "current_epoch", "device", "global_step", "hparams", "log",
    "log_dict", "optimizers", "save_hyperparameters", "trainer", "training_step",
    "validation_step", "bind", "init", "params", "setup", "variables",
}
"""Members an open class (one with a base outside the tree) may get from that base; with
``on_*`` hooks and what :func:`base_supplies` knows of its bases, never reported as gone
from it."""
LIGHTNING_MODULE_MEMBERS = TORCH_MODULE_MEMBERS | {
    # lightning.pytorch.LightningModule beyond torch.nn.Module and its on_* hooks (dir() of
    # Lightning 2.6)
    "all_gather", "automatic_optimization", "backward", "clip_gradients", "configure_callbacks",
    "configure_gradient_clipping", "configure_model", "configure_optimizers",
    "configure_sharded_model", "current_epoch", "device", "device_mesh", "dtype",
    "example_input_array", "fabric", "freeze", "global_rank", "global_step", "hparams",
    "hparams_initial", "load_from_checkpoint", "local_rank", "log", "log_dict", "logger",
    "loggers", "lr_scheduler_step", "lr_schedulers", "manual_backward", "optimizer_step",
    "optimizer_zero_grad", "optimizers", "predict_dataloader", "predict_step", "prepare_data",
    "print", "save_hyperparameters", "setup", "strict_loading", "teardown", "test_dataloader",
    "test_step", "to_onnx", "to_torchscript", "toggle_optimizer", "train_dataloader", "trainer",
    "training_step", "transfer_batch_to_device", "unfreeze", "untoggle_optimizer",
    "val_dataloader", "validation_step",
}
DATAMODULE_MEMBERS = frozenset({
    # lightning.pytorch.LightningDataModule beyond its on_* hooks (dir() of Lightning 2.6)
    "from_datasets", "hparams", "hparams_initial", "load_from_checkpoint", "load_state_dict",
    "name", "predict_dataloader", "prepare_data", "save_hyperparameters", "setup",
    "state_dict", "teardown", "test_dataloader", "train_dataloader",
    "transfer_batch_to_device", "val_dataloader",
})
CALLBACK_MEMBERS = frozenset({
    # lightning.pytorch.callbacks Callback, ModelCheckpoint and EarlyStopping beyond their
    # on_* hooks (dir() of Lightning 2.6)
    "check_monitor_top_k", "every_n_epochs", "file_exists", "format_checkpoint_name",
    "load_state_dict", "mode_dict", "monitor_op", "order_dict", "setup", "state_dict",
    "state_key", "teardown", "to_yaml",
})
DISTRIBUTION_MEMBERS = frozenset({
    # torch.distributions.Distribution (dir() of torch 2.x)
    "arg_constraints", "batch_shape", "cdf", "entropy", "enumerate_support", "event_shape",
    "expand", "has_enumerate_support", "has_rsample", "icdf", "log_prob", "mean", "mode",
    "perplexity", "rsample", "sample", "sample_n", "set_default_validate_args", "stddev",
    "support", "variance",
    # pyro's TorchDistributionMixin, on every pyro.distributions class (dir() of pyro 1.9)
    "conjugate_update", "event_dim", "expand_by", "independent", "infer_shapes", "mask",
    "reshape", "rv", "score_parts", "shape", "to_event",
})
FLAX_MODULE_MEMBERS = frozenset({
    # flax.linen.Module, from its API reference (flax is not a dependency here to read it)
    "apply", "bind", "clone", "copy", "get_variable", "has_rng", "has_variable", "init",
    "init_with_output", "is_initializing", "is_mutable_collection", "lazy_init", "make_rng",
    "module_paths", "name", "param", "parent", "path", "perturb", "put_variable", "scope",
    "setup", "sow", "tabulate", "unbind", "variable", "variables",
})
_LIGHTNING = r"(?:lightning\.pytorch|pytorch_lightning|lightning)"
KNOWN_BASES = (
    (re.compile(r"torch\.nn\.Module"), TORCH_MODULE_MEMBERS, False),
    (re.compile(rf"{_LIGHTNING}\.(?:core\.)?LightningModule"), LIGHTNING_MODULE_MEMBERS, True),
    (re.compile(rf"{_LIGHTNING}\.(?:core\.)?LightningDataModule"), DATAMODULE_MEMBERS, True),
    (re.compile(rf"{_LIGHTNING}\.callbacks\.[\w.]+"), CALLBACK_MEMBERS, True),
    (re.compile(r"(?:torch|pyro)\.distributions\.[A-Z]\w*"), DISTRIBUTION_MEMBERS, False),
    (re.compile(r"flax\.linen\.Module"), FLAX_MODULE_MEMBERS, False),
)
"""Bases of other packages (as the build resolves them) whose members are known: the
pattern, the members, and whether its ``on_*`` hooks are members too. scvi-tools 1.5.1's
``BetaBinomial.sample`` overrides the ``sample`` that ``pyro.distributions.BetaBinomial``
gave it in every release before; ``DataSplitter.transfer_batch_to_device`` Lightning's."""


def base_supplies(base: str, member: str) -> bool | None:
    """Whether the class ``base`` of another package has ``member`` (:data:`KNOWN_BASES`);
    None when the build does not know that base's members."""
    for pattern, members, hooks in KNOWN_BASES:
        if pattern.fullmatch(base):
            return member in members or (hooks and member.startswith("on_"))
    return None


EXTERNAL_BASES = "external_bases"
"""Key of a release's classes with bases of other packages (:func:`_external_bases`): only
:func:`release_outputs` and :func:`build_history` read it; the index files leave it out."""
KEPT_DECORATORS = frozenset({"classmethod", "staticmethod", "property"})
CLOSED_BASES = TRIVIAL_BASES | FIELD_BASES


def open_release_tree(root: Path, version: str) -> Tree:
    """A :class:`Tree` over an unpacked sdist, flat (``scvi/``) or ``src/`` layout."""
    if (root / "src" / "scvi" / "__init__.py").is_file():
        return Tree(root=root.resolve(), kind="sdist", version=version)
    if (root / "scvi" / "__init__.py").is_file():
        # the installed layout is the flat one: package_dir is root/scvi
        return Tree(root=root.resolve(), kind="installed", version=version)
    msg = f"{root} holds neither src/scvi/ nor scvi/: not an scvi-tools sdist"
    raise FileNotFoundError(msg)


def build_release(tree: Tree) -> dict:
    """The API index of one release (a plain dict, written by :func:`dump_release`)."""
    source = build_source_map(tree, ReadLog())
    source.parsed = _Parsed(tree)
    flat = tree.kind == "installed"
    symbols: dict[str, dict] = {}
    for symbol in source.symbols:
        symbols[symbol["qualname"]] = _slim(symbol, flat)
    for qualname, slim in symbols.items():
        if slim["kind"] == "class":
            attrs = _class_attributes(source, qualname) if _closed(qualname, source) else None
            slim["closed"] = attrs is not None
            if attrs:
                slim["attrs"] = sorted(attrs)
            private = _private_methods(source, qualname)
            if private:
                slim["private"] = private
        elif slim["kind"] in ("method", "function", "property"):
            returned = _annotated_return(source, qualname)
            if returned:
                slim["returns"] = returned
    reachable = set(source.namespaces.values())  # a mixin's method under a model's public name
    for qualname, slim in symbols.items():
        if slim.get("var_kwargs") and slim["kind"] == "class":
            _class_kwargs_route(qualname, slim, symbols, source)
        elif slim.get("var_kwargs"):
            _kwargs_route(qualname, slim, symbols, source)
            if "kwargs_to" not in slim:
                _call_kwargs_route(qualname, slim, symbols, source)
            if "kwargs_to" not in slim:
                _dropping_route(qualname, slim, symbols, source)
        if slim["kind"] in ("method", "function"):
            _dict_params(qualname, slim, source)
            unread = _unread_params(qualname, slim, source, reachable)
            if unread:
                slim["unread"] = unread
        elif slim["kind"] == "class":
            _stored_kwargs_fixed(qualname, slim, source)
            optimization = _automatic_optimization(qualname, source)
            if optimization:
                slim["automatic_optimization"] = optimization
            returned = _new_returns(qualname, source)
            if returned:
                slim["new_returns"] = returned
            unread = _unread_keywords(qualname, slim, source)
            if unread:
                slim["unread_keywords"] = unread
        if slim.get("uses", {}).get("training_plan"):
            swapped, definite = _swapped_plans(source, qualname)
            if definite:  # train() always swaps it in for this model: the plan it trains with
                slim["uses"]["training_plan"] = definite
                swapped = [plan for plan in swapped if plan != definite]
            if swapped:
                slim["uses"]["training_plans"] = swapped
    targets = {slim.get("kwargs_target") for slim in symbols.values()}
    for qualname, slim in symbols.items():
        if slim["kind"] == "class" and (slim.get("public") or qualname in targets):
            unread = _unread_init(qualname, source)
            if unread:
                slim["unread"] = unread
    external = _external_bases(source)
    lightning = {q for q, bases in external.items()
                 if any(b.rsplit(".", 1)[-1] == "LightningModule" for b in bases)}
    for qualname, slim in symbols.items():
        if slim["kind"] == "class" and not (slim.get("uses") or {}).get("training_plan"):
            plan = _built_plan(qualname, source, lightning)
            if plan:
                slim.setdefault("uses", {})["training_plan"] = plan
    for slim in symbols.values():  # keep a **P callee only where a later collision is known
        to = {param: target for param, target in (slim.pop("splat_to", None) or {}).items()
              if target == "uses:data_splitter"
              or "stored_kwargs_fixed" in (symbols.get(target) or {})}
        if to:
            slim["splat_to"] = to
    return {
        "_generated": (f"generated by scripts/build_api_index.py from the scvi-tools "
                       f"{tree.version} sdist; do not edit; regenerate: {REGENERATE_API}"),
        "format": API_FORMAT,
        "layout": "flat" if flat else "src",
        "namespaces": dict(sorted(source.namespaces.items())),
        "bound": _bound_names(source),
        "set_outside": _set_outside(source),
        "loads": _subpackages_loaded(source),
        "requires": requires_dist(tree.root),
        "requires_python": requires_python(tree.root),
        "symbols": dict(sorted(symbols.items())),
        "trainer_keywords": _trainer_keywords(source),
        "version": tree.version,
        EXTERNAL_BASES: external,
        MESSAGES: _release_messages(tree),
        **release_uses(tree),
    }


PLAN_USES = ("module", "training_plan", "data_splitter")
"""The ``uses`` a model class keeps: where ``train(plan_kwargs=...)`` and
``train(datasplitter_kwargs=...)`` keys can go."""

MESSAGES = "messages"
"""Key of a release's messages: only :func:`build_history` reads them; the per-release index
files leave them out."""
GONE_MESSAGES = "gone_messages.json"
"""The messages earlier releases raise and the last does not (:func:`build_gone_messages`)."""
MIN_GONE_WORDS = 3
"""Static words a gone message needs to be kept ("scheduler" alone would match any paste)."""


def release_messages(tree: Tree) -> dict:
    """``{"version", "messages", ...}`` of a release read for its messages and its uses of
    other packages only (one before the indexed releases: 0.x, whose API the indexes leave
    out)."""
    return {"version": tree.version, MESSAGES: _release_messages(tree), **release_uses(tree)}


def _release_messages(tree: Tree) -> dict[str, list]:
    """Template -> ``[path, line, kind, exception]`` of its first site, for every raise, warn
    and log site with static text (:func:`~scvi_skill.build.source.messages.read_messages`)."""
    out: dict[str, list] = {}
    for row in read_messages(tree, ReadLog()).rows:
        out.setdefault(row.template, [row.path, row.line, row.kind, row.exception])
    return out


_PKG_INFO_PYTHON = re.compile(r"^Requires-Python:\s*(.+?)\s*$", re.M)
_PYPROJECT_PYTHON = re.compile(r"^requires-python\s*=\s*[\"']([^\"']+)[\"']", re.M)
_REQUIRES_DIST = re.compile(r"^Requires-Dist:\s*(.+?)\s*$", re.M)
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;\s*(.*))?$")


def requires_dist(root: Path) -> dict[str, str]:
    """The packages a release needs to run (``Requires-Dist`` of its sdist's ``PKG-INFO``
    without an ``extra ==`` marker): normalized name -> version specifier (``""``: any), a
    marker other than an extra kept after ``;`` (``">=1.0; python_version < '3.10'"``)."""
    try:
        text = (root / "PKG-INFO").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in _REQUIRES_DIST.findall(text):
        m = _REQUIREMENT.match(line)
        if not m or (m.group(3) and "extra" in m.group(3)):
            continue
        name = requirement_name(m.group(1))
        spec = m.group(2).strip().strip("()").replace(" ", "")
        if m.group(3):
            spec += f"; {m.group(3)}"
        out[name] = f"{out[name]} | {spec}" if name in out else spec
    return dict(sorted(out.items()))


def requires_python(root: Path) -> str:
    """The Python versions a release supports, as its sdist declares them: ``Requires-Python``
    of ``PKG-INFO`` (every sdist has one), else ``requires-python`` of ``pyproject.toml``;
    ``""`` when neither says."""
    for name, pattern in (("PKG-INFO", _PKG_INFO_PYTHON), ("pyproject.toml", _PYPROJECT_PYTHON)):
        try:
            text = (root / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if m := pattern.search(text):
            return m.group(1)
    return ""


def _bound_names(source) -> dict[str, list[str]]:
    """Per package: the names its ``__init__`` binds (imports, definitions, lazy imports)
    that are not public names because its ``__all__`` leaves them out; they still exist
    (``scvi.external.cytovi.transform_arcsinh``)."""
    out = {}
    for name, info in source.resolver.modules.items():
        if not info.is_package:
            continue
        names = sorted(n for n in {**info.bindings, **info.lazy}
                       if not n.startswith("_") and f"{name}.{n}" not in source.namespaces)
        if names:
            out[name] = names
    return dict(sorted(out.items()))


def _slim(symbol: dict, flat: bool) -> dict:
    path = symbol["path"].removeprefix("src/") if flat else symbol["path"]
    slim = {"kind": symbol["kind"], "path": path, "line": symbol["line"]}
    for key in ("public", "params", "mro"):
        if symbol.get(key):
            slim[key] = symbol[key]
    if symbol.get("var_kwargs"):
        slim["var_kwargs"] = True
    uses = {k: v for k, v in (symbol.get("uses") or {}).items() if k in PLAN_USES and v}
    if uses:
        slim["uses"] = uses
    if symbol.get("params_known") is False:
        slim["params_known"] = False
    decorators = [d for d in symbol.get("decorators") or [] if d in KEPT_DECORATORS]
    if decorators:
        slim["decorators"] = decorators
    return slim


class _Parsed:
    """Module ASTs of one tree by tree-relative path, parsed once."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self._cache: dict[str, ast.Module | None] = {}

    def module(self, rel: str) -> ast.Module | None:
        if rel not in self._cache:
            try:
                text = self.tree.to_disk(rel).read_text(encoding="utf-8")
                self._cache[rel] = ast.parse(text, filename=rel)
            except (OSError, SyntaxError, ValueError):
                self._cache[rel] = None
        return self._cache[rel]


def _external_bases(source) -> dict[str, list[str]]:
    """Class qualname -> the bases of other packages that it and its in-tree bases name
    (dotted as the imports resolve them, as written when they do not; in MRO order), for each
    class that has one beyond :data:`CLOSED_BASES` (the classes :func:`_closed` calls open)."""
    resolver = source.resolver
    out = {}
    for cls in sorted(resolver.classes):
        found: list[str] = []
        for owner in resolver.linearize(cls):
            for expr in resolver.external_bases(owner):
                dotted = resolver.dotted(resolver.class_module[owner], expr) or expr
                if base_name(expr) not in CLOSED_BASES and dotted not in found:
                    found.append(dotted)
        if found:
            out[cls] = found
    return out


def _closed(qualname: str, source) -> bool:
    """Every base of the class (and theirs) is in the tree or adds no members."""
    resolver = source.resolver
    for cls in resolver.linearize(qualname):
        if any(base_name(b) not in CLOSED_BASES for b in resolver.external_bases(cls)):
            return False
    return True


def _class_node(source, qualname: str) -> ast.ClassDef | None:
    symbol = source.by_qualname.get(qualname)
    tree = source.parsed.module(symbol["path"]) if symbol else None
    if tree is None:
        return None
    name = qualname.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name and node.lineno == symbol["line"]:
            return node
    return None


def _automatic_optimization(qualname: str, source) -> list | None:
    """``[line, value]`` when the class's own ``__init__`` sets
    ``self.automatic_optimization = True/False`` as a statement of its body (not under an
    ``if``): a training plan that optimizes by hand (AdversarialTrainingPlan, the Pyro plans),
    under which Lightning rejects ``gradient_clip_val`` and ``accumulate_grad_batches``."""
    node = _class_node(source, qualname)
    init = next((sub for sub in (node.body if node else ())
                 if isinstance(sub, ast.FunctionDef) and sub.name == "__init__"), None)
    found = None
    for stmt in (init.body if init else ()):
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) \
                and isinstance(stmt.value.value, bool) and any(
                    is_self_attr(t, "automatic_optimization") for t in stmt.targets):
            found = [stmt.lineno, stmt.value.value]
    return found


def _unread_keywords(qualname: str, slim: dict, source) -> dict[str, list[list[str]]]:
    """:func:`~scvi_skill.build.source.unread.unread_module_keywords` for a model class and
    its module (``uses["module"]``)."""
    module = (slim.get("uses") or {}).get("module")
    if not module:
        return {}
    methods = {}
    for method in ("generative", "inference"):
        owner, node = _resolved_method(source, module, method)
        methods[method] = (f"{owner}.{method}", node)
    classes = [_class_node(source, cls) for cls in source.resolver.linearize(qualname)]
    return unread_module_keywords(methods, classes)


def _unread_params(qualname: str, slim: dict, source, reachable: set[str]) -> list[str]:
    """The parameters a def that a public name reaches (RESOLVI's
    ``get_latent_representation``, its private mixin's) takes and never reads (not
    ``self``/``cls``, ``*args`` or ``**kwargs``): a keyword given there changes nothing
    (MULTIVI's deprecated ``setup_anndata``, mlxSCVI's ``train(accelerator=...)``). None for a def whose body only
    raises, passes or returns a constant (a stub or abstract method), and for one that reads
    ``locals()`` (``_get_setup_method_args(**locals())``)."""
    if not (slim.get("public") or qualname in reachable):
        return []
    node = _def_node(source, qualname)
    if node is None:
        return []
    return unread_args(node, slim["kind"] == "method")


def _unread_init(qualname: str, source) -> list[str]:
    """:func:`~scvi_skill.build.source.unread.unread_init` of the class (``RESOLVAE``'s
    ``latent_distribution``, which ``RESOLVI(adata, latent_distribution=...)`` hands it
    through its ``**model_kwargs``)."""
    return unread_init(_class_node(source, qualname))


def _swapped_plans(source, qualname: str) -> tuple[list[str], str | None]:
    """Training plan classes a method along the class's MRO assigns to
    ``self._training_plan_cls``: plans the model may train with, less those assigned only
    under ``if type(self).__name__ == "OTHER"`` (SemisupervisedTrainingMixin.train swaps in
    SemiSupervisedAdversarialTrainingPlan for TOTALANVI, not for SCANVI); and the one the
    ``train()`` the model resolves to assigns for it at its top level or under its own name
    (TOTALANVI's), which replaces the class attribute's plan, or None."""
    name = qualname.rsplit(".", 1)[-1]
    mro = source.resolver.linearize(qualname)
    train_owner = _resolved_method(source, qualname, "train")[0]
    found: set[str] = set()
    definite = None
    for cls in mro:
        node = _class_node(source, cls)
        module = source.resolver.class_module.get(cls)
        if node is None or module is None:
            continue
        for method in node.body:
            if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for stmt, condition in class_conditioned_statements(method.body, None):
                if condition not in (None, "?", name) or not isinstance(stmt, ast.Assign) \
                        or not any(is_self_attr(t, "_training_plan_cls") for t in stmt.targets):
                    continue
                target = source.resolver.dotted(module, ast.unparse(stmt.value))
                if target and target in source.by_qualname:
                    found.add(target)
                    if cls == train_owner and method.name == "train" and condition != "?":
                        definite = target
    return sorted(found), definite


def _built_plan(qualname: str, source, plans: set[str]) -> str | None:
    """The training plan a class's ``train()`` builds itself, when it has no
    ``_training_plan_cls`` (GIMVI: ``self._training_plan = GIMVITrainingPlan(...,
    **plan_kwargs)``; SOLO's ClassifierTrainingPlan): the one class of ``plans`` (Lightning
    modules of the tree) that the ``train()`` it resolves to calls; None for none or several."""
    owner, node = _resolved_method(source, qualname, "train")
    if node is None:
        return None
    module = source.resolver.class_module.get(owner)
    built = {source.resolver.dotted(module, ast.unparse(sub.func))
             for sub in ast.walk(node) if isinstance(sub, ast.Call)} & plans
    return built.pop() if len(built) == 1 else None


def _resolved_method(source, qualname: str, method: str) -> tuple[str | None, ast.AST | None]:
    """``(class, def)`` of the ``method`` a class resolves to along its MRO (its own or the
    first base's that defines it); ``(None, None)`` when none of the tree does."""
    for cls in source.resolver.linearize(qualname):
        if (source.by_qualname.get(f"{cls}.{method}") or {}).get("kind") == "method":
            return cls, _def_node(source, f"{cls}.{method}")
    return None, None


def _class_attributes(source, qualname: str) -> set[str] | None:
    """Attributes the class and its in-tree bases set in their bodies (``self.x =``,
    ``x: int``): real names the index has no symbol for. ``None`` when a base's source
    cannot be read or defines ``__getattr__`` (the class is then treated as open)."""
    names: set[str] = set()
    for cls in source.resolver.linearize(qualname):
        node = _class_node(source, cls)
        if node is None or any(isinstance(stmt, ast.FunctionDef) and stmt.name in (
                "__getattr__", "__getattribute__") for stmt in node.body):
            return None
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                names.add(stmt.target.id)
            elif isinstance(stmt, ast.Assign):
                names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        for sub in ast.walk(node):
            targets = _assigned(sub)
            for target in targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id == "self":
                    names.add(target.attr)
    return names


def _private_methods(source, qualname: str) -> list[str]:
    """The class's own private methods (``_get_importance_weights``; not dunders), sorted:
    a later release may make one public (``get_importance_weights`` in 1.4.0), and the index
    of public names alone would call it new."""
    node = _class_node(source, qualname)
    if node is None:
        return []
    return sorted({stmt.name for stmt in node.body
                   if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and stmt.name.startswith("_") and not stmt.name.endswith("__")})


def _set_outside(source) -> dict[str, list[str]]:
    """The public attribute names the package sets on an object other than ``self``
    (``self.model.trainer = ...``, ``model.is_trained_ = True``) or with ``setattr`` and a
    literal name, each with its first :data:`OUTSIDE_SITES` sites (``path:line``, in path
    order): a class's instance may have them though its own bodies never set them, so the
    code checker never calls a read of one missing (``attrs`` holds what a class sets
    itself), and the pack says where such an attribute comes from."""
    flat = source.parsed.tree.kind == "installed"
    sites: dict[str, set[tuple[str, int]]] = {}
    for info in source.resolver.modules.values():
        tree = source.parsed.module(info.path)
        path = info.path.removeprefix("src/") if flat else info.path
        for sub in ast.walk(tree) if tree is not None else ():
            targets = _assigned(sub)
            for target in targets:
                if isinstance(target, ast.Attribute) and not (
                        isinstance(target.value, ast.Name) and target.value.id == "self"):
                    sites.setdefault(target.attr, set()).add((path, target.lineno))
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) \
                    and sub.func.id == "setattr" and len(sub.args) > 1 \
                    and isinstance(sub.args[1], ast.Constant) \
                    and isinstance(sub.args[1].value, str):
                sites.setdefault(sub.args[1].value, set()).add((path, sub.lineno))
    return {name: [f"{p}:{n}" for p, n in sorted(found)[:OUTSIDE_SITES]]
            for name, found in sorted(sites.items()) if not name.startswith("_")}


OUTSIDE_SITES = 2
"""Sites kept for each name of ``set_outside``."""


def _subpackages_loaded(source) -> dict[str, list[str]]:
    """The public subpackages ``import scvi`` loads (``"scvi"``), and for a subpackage whose
    import loads others beyond those and itself, those (the imports run at import time,
    followed through every module they reach; not those under ``if TYPE_CHECKING:`` or
    inside a def). ``import scvi`` loads ``scvi.model`` but not
    ``scvi.hub`` in 1.5.1: after it alone, ``scvi.hub.HubModel`` raises AttributeError."""
    modules = source.resolver.modules
    imports = {name: _import_time_imports(info, source) & modules.keys()
               for name, info in modules.items()}
    tops = sorted(name for name, info in modules.items() if name.count(".") == 1
                  and info.is_package and not name.rpartition(".")[2].startswith("_"))
    out = {}
    for start in ["scvi", *tops]:
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            parts = name.split(".")
            for n in range(1, len(parts) + 1):  # a module's packages are imported first
                parent = ".".join(parts[:n])
                if parent not in seen and parent in modules:
                    seen.add(parent)
                    todo.extend(imports.get(parent, ()))
        out[start] = {".".join(m.split(".")[:2]) for m in seen if m.count(".") >= 1} & set(tops)
    base = out.pop("scvi", set())  # importing scvi.P imports scvi first: P's own extras only
    extras = {name: sorted(loaded - base - {name}) for name, loaded in out.items()}
    return {"scvi": sorted(base), **{name: more for name, more in extras.items() if more}}


def _import_time_imports(info, source) -> set[str]:
    """The module names a module's import-time statements import (``from . import data``:
    ``scvi.data``; a name imported from a package that may be a submodule counts too)."""
    tree = source.parsed.module(info.path)
    package = info.name if info.is_package else info.name.rpartition(".")[0]
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Import):
                out.update(alias.name for alias in stmt.names)
            elif isinstance(stmt, ast.ImportFrom):
                base = stmt.module or ""
                if stmt.level:
                    up = package.split(".")[: len(package.split(".")) - stmt.level + 1]
                    base = ".".join(up + ([stmt.module] if stmt.module else []))
                out.add(base)
                out.update(f"{base}.{alias.name}" for alias in stmt.names)
            elif isinstance(stmt, ast.If):
                test = ast.unparse(stmt.test)
                visit(stmt.orelse if test.endswith("TYPE_CHECKING") else stmt.body + stmt.orelse)
            elif isinstance(stmt, ast.Try):
                visit(stmt.body + [s for h in stmt.handlers for s in h.body] + stmt.orelse
                      + stmt.finalbody)
            elif isinstance(stmt, ast.With | ast.ClassDef):
                visit(stmt.body)

    visit(tree.body if tree is not None else [])
    return out


def _annotated_return(source, qualname: str) -> str | None:
    """The in-tree class a def's return annotation names (``-> HubMetadata``, ``->
    "HubModel"``, ``-> HubMetadata | None``): what a read of its result's attributes is
    looked up in. None for any other annotation (``type[X]``, a package's class, a union of
    two classes); ``"cls"`` for a classmethod without one whose every ``return`` returns
    ``cls(...)`` (``HubModel.pull_from_huggingface_hub``): an instance of the class it is
    called on."""
    node = _def_node(source, qualname)
    returns = node.returns if node is not None else None
    if node is not None and returns is None:
        return "cls" if _returns_cls(node) else None
    if isinstance(returns, ast.Constant) and isinstance(returns.value, str):
        try:
            returns = ast.parse(returns.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(returns, ast.BinOp) and isinstance(returns.op, ast.BitOr):
        sides = [s for s in (returns.left, returns.right)
                 if not (isinstance(s, ast.Constant) and s.value is None)]
        returns = sides[0] if len(sides) == 1 else None
    if not isinstance(returns, ast.Name | ast.Attribute):
        return None
    owner = qualname.rpartition(".")[0]
    module = source.resolver.class_module.get(owner) or (
        owner if owner in source.resolver.modules else None)
    target = source.resolver.dotted(module, ast.unparse(returns)) if module else None
    return target if (source.by_qualname.get(target) or {}).get("kind") == "class" else None


def _returns_cls(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A classmethod whose every ``return`` (one at least, nested defs apart) gives
    ``cls(...)`` or a name only ever assigned ``cls(...)``."""
    if not any(isinstance(d, ast.Name) and d.id == "classmethod" for d in node.decorator_list):
        return False
    own = [sub for stmt in node.body for sub in _walk_own(stmt)]
    built = {t.id for sub in own if isinstance(sub, ast.Assign) for t in sub.targets
             if isinstance(t, ast.Name) and _calls_cls(sub.value)}
    other = {t.id for sub in own if isinstance(sub, ast.Assign | ast.AnnAssign)
             for t in _assigned(sub) if isinstance(t, ast.Name) and not _calls_cls(sub.value)}
    returns = [sub.value for sub in own if isinstance(sub, ast.Return)]
    return bool(returns) and all(
        _calls_cls(value) or (isinstance(value, ast.Name) and value.id in built - other)
        for value in returns)


def _calls_cls(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
        and value.func.id == "cls"


def _walk_own(node: ast.AST):
    """``ast.walk`` that does not enter nested defs, lambdas or classes."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                          | ast.ClassDef):
            yield from _walk_own(child)


def _assigned(node: ast.AST) -> list[ast.expr]:
    """The targets an assignment statement (plain, annotated or augmented) writes; [] for
    any other node."""
    if isinstance(node, ast.Assign):
        return node.targets
    return [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else []


def _function_node(source, qualname: str) -> ast.FunctionDef | None:
    owner, _, name = qualname.rpartition(".")
    cls = _class_node(source, owner)
    if cls is None:
        return None
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def _kwargs_route(qualname: str, slim: dict, symbols: dict, source) -> None:
    """Record ``kwargs_to`` where the ``**kwargs`` of a method provably end."""
    name = qualname.rsplit(".", 1)[-1]
    if name not in SETUP_METHODS and name != "train":
        return
    node = _function_node(source, qualname)
    if node is None or node.args.kwarg is None:
        return
    var = node.args.kwarg.arg
    targets, keys, beside, removed = set(), set(), set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == var
                   for k in sub.keywords):
                func = sub.func
                targets.add(func.attr if isinstance(func, ast.Attribute) else ast.unparse(func))
                beside.update(k.arg for k in sub.keywords if k.arg is not None)
            if isinstance(sub.func, ast.Attribute) and isinstance(sub.func.value, ast.Name) \
                    and sub.func.value.id == var and sub.func.attr in ("pop", "get") \
                    and sub.args and isinstance(sub.args[0], ast.Constant):
                keys.add(str(sub.args[0].value))
                if sub.func.attr == "pop":
                    removed.add(str(sub.args[0].value))
        elif isinstance(sub, ast.Delete):
            removed.update(str(t.slice.value) for t in sub.targets
                           if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                           and t.value.id == var and isinstance(t.slice, ast.Constant))
    if name in SETUP_METHODS and targets == {"register_fields"}:
        slim["kwargs_to"] = "register_fields"
    elif name == "train" and targets and targets <= RUNNER_CALLS:
        slim["kwargs_to"] = "trainer"
    elif name == "train" and targets == {"train"}:
        # super().train(..., **kwargs): the next train along the MRO decides
        owner = qualname.rpartition(".")[0]
        for base in source.resolver.linearize(owner)[1:]:
            parent = symbols.get(f"{base}.train")
            if parent is not None:
                if parent.get("kwargs_to") == "trainer" or (
                        parent.get("var_kwargs") and _route_of(f"{base}.train", parent,
                                                              symbols, source) == "trainer"):
                    slim["kwargs_to"] = "trainer"
                    # The parent's own parameters take the keywords first (SysVI's
                    # train(**train_kwargs) -> UnsupervisedTrainingMixin.train(batch_size=)).
                    slim["kwargs_parent"] = f"{base}.train"
                break
    if slim.get("kwargs_to") == "trainer" and keys:
        slim["kwargs_keys"] = sorted(keys)
    # A keyword the forwarding call passes itself, which the method neither takes as a
    # parameter nor pops from its **kwargs first, cannot also come through them: Python
    # raises "got multiple values for keyword argument" (a Pyro model's train(devices=...),
    # whose own parameter is `device`).
    own = {a.arg for a in node.args.args + node.args.kwonlyargs}
    fixed = beside - own - removed
    if slim.get("kwargs_to") and fixed:
        slim["kwargs_fixed"] = sorted(fixed)


CLASS_HOOK_USES = {"self._module_cls": "module"}
"""A class attribute an ``__init__`` calls, and the ``uses`` entry that names its class for
the class at hand (a subclass that sets its own ``_module_cls`` gets its own module)."""


def _class_kwargs_route(qualname: str, slim: dict, symbols: dict, source) -> None:
    """Record ``kwargs_to: "class"`` for a class whose ``__init__`` provably hands its
    ``**kwargs`` to one class: every use of them is a ``**`` in calls of that one callee
    (SCANVI's through a copy) or keeps them (:func:`_splat_calls`: a dict literal kept for a
    later call, SCVI's ``_module_kwargs``; CondSCVI's ``update``). ``super().__init__``
    is followed along the class's own MRO while every class passed has only trivial
    external bases, so a subclass's ``self._module_cls`` is its own. Any other use of the
    ``**kwargs`` (read, popped, stored, two callees) leaves the class without a route: its
    keywords are then accepted unchecked, as before."""
    resolver = source.resolver
    mro = resolver.linearize(qualname)
    uses = slim.get("uses") or {}
    consumed: set[str] = set()
    keys: set[str] = set()
    fixed: set[str] = set()
    start = 0
    while True:
        found = _next_init(mro, start, source)
        if found is None:
            return
        position, init = found
        if init.args.kwarg is None:
            if not start:
                return
            break  # super().__init__(**kwargs) ends at a base's __init__ that names them all
        var = init.args.kwarg.arg
        own = {a.arg for a in init.args.args[1:] + init.args.kwonlyargs}
        if start:
            keys |= own - consumed  # a base's __init__ takes these before the callee
        consumed |= own
        calls = _splat_calls(init, var)
        callees = {ast.unparse(call.func) for call in calls}
        if not calls or len(callees) != 1:
            return
        beside = set.intersection(*({k.arg for k in call.keywords if k.arg} for call in calls))
        fixed |= beside - consumed
        (callee,) = callees
        if callee != "super().__init__":
            break
        if any(base_name(b) not in CLOSED_BASES
               for cls in mro[:position + 1] for b in resolver.external_bases(cls)):
            return  # the next __init__ may be an external class's
        start = position + 1
    if init.args.kwarg is None:
        target = mro[position]
    elif callee in CLASS_HOOK_USES:
        target = uses.get(CLASS_HOOK_USES[callee])
    else:
        module = resolver.class_module.get(mro[position])
        target = resolver.dotted(module, callee) if module else None
    if not target or target == qualname or (symbols.get(target) or {}).get("kind") != "class":
        return
    _set_route(slim, "class", target, keys, fixed)


KEEPING_METHODS = ("update", "setdefault")
"""Methods of a ``**kwargs`` dict that add keys and take none away."""


def _splat_calls(init: ast.FunctionDef, var: str,
                 reads: set[str] | None = None) -> list[ast.Call]:
    """The calls of ``init`` that its ``**var`` go to (as ``**var`` or ``**copy``, a copy
    being ``copy = dict(var)`` or ``var.copy()``), when every other use of them only keeps
    them (a dict literal ``{**var}``, ``var.update(...)``, ``var[k] = v``); [] when any use
    could take a key away or read one (``pop``, ``get``, ``del``, passing ``var`` itself).
    With ``reads``, ``var.get("key", ...)`` is allowed too and its keys are added there (the
    keywords the def reads, and takes without an error)."""
    names, allowed = {var}, 0
    for sub in ast.walk(init):
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1 \
                and isinstance(sub.targets[0], ast.Name) and _copies(sub.value, var):
            names.add(sub.targets[0].id)
            allowed += 1
    calls = []
    for sub in ast.walk(init):
        if isinstance(sub, ast.Call):
            splats = sum(1 for k in sub.keywords if k.arg is None
                         and isinstance(k.value, ast.Name) and k.value.id in names)
            if splats:
                calls.append(sub)
                allowed += splats
            if isinstance(sub.func, ast.Attribute) and sub.func.attr in KEEPING_METHODS \
                    and isinstance(sub.func.value, ast.Name) and sub.func.value.id in names:
                allowed += 1
            elif reads is not None and isinstance(sub.func, ast.Attribute) \
                    and sub.func.attr == "get" and isinstance(sub.func.value, ast.Name) \
                    and sub.func.value.id in names and sub.args \
                    and isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str):
                reads.add(sub.args[0].value)
                allowed += 1
        elif isinstance(sub, ast.Dict):
            allowed += sum(1 for k, v in zip(sub.keys, sub.values, strict=True)
                           if k is None and isinstance(v, ast.Name) and v.id in names)
        elif isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Store) \
                and isinstance(sub.value, ast.Name) and sub.value.id in names:
            allowed += 1
    loads = sum(1 for sub in ast.walk(init) if isinstance(sub, ast.Name) and sub.id in names
                and isinstance(sub.ctx, ast.Load))
    return calls if loads == allowed else []


def _copies(value: ast.expr, var: str) -> bool:
    """``dict(var)`` or ``var.copy()``."""
    if isinstance(value, ast.Call) and not value.keywords:
        func = value.func
        if isinstance(func, ast.Name) and func.id == "dict" and len(value.args) == 1:
            return isinstance(value.args[0], ast.Name) and value.args[0].id == var
        return isinstance(func, ast.Attribute) and func.attr == "copy" and not value.args \
            and isinstance(func.value, ast.Name) and func.value.id == var
    return False


def _new_returns(qualname: str, source) -> list[str]:
    """The in-tree classes other than itself that the class's own ``__new__`` returns
    instances of (``return JaxMRVI(...)``, or ``return model`` after ``model =
    TorchMRVI(...)``), in source order; [] when it has no ``__new__`` or returns none."""
    node = _class_node(source, qualname)
    new = next((m for m in (node.body if node else ())
                if isinstance(m, ast.FunctionDef) and m.name == "__new__"), None)
    if new is None:
        return []
    module = source.resolver.class_module.get(qualname)
    assigned: dict[str, list[ast.expr]] = {}
    local: dict[str, tuple[str, str]] = {}  # from M import N inside __new__ (a lazy import)
    for sub in ast.walk(new):
        if isinstance(sub, ast.ImportFrom) and sub.module and not sub.level:
            local.update((a.asname or a.name, (sub.module, a.name)) for a in sub.names)
        if isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Call):
            for target in sub.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(sub.value.func)
    found: list[tuple[int, str]] = []
    for sub in ast.walk(new):
        if not isinstance(sub, ast.Return) or sub.value is None:
            continue
        funcs = [sub.value.func] if isinstance(sub.value, ast.Call) else \
            assigned.get(sub.value.id, []) if isinstance(sub.value, ast.Name) else []
        for func in funcs:
            text = ast.unparse(func)
            if text in local:
                target = source.resolver.dotted(*local[text])
            else:
                target = source.resolver.dotted(module, text) if module else None
            if target and target != qualname and \
                    (source.by_qualname.get(target) or {}).get("kind") == "class":
                found.append((func.lineno, target))
    return list(dict.fromkeys(target for _, target in sorted(found)))


MAX_HOPS = 4
"""Private helpers a method's ``**kwargs`` are followed through to a public callable."""


def _call_kwargs_route(qualname: str, slim: dict, symbols: dict, source) -> None:
    """Record ``kwargs_to: "call"`` for a public function or method whose ``**kwargs`` go,
    provably (:func:`_splat_calls`), to one callable: ``differential_expression(**kwargs)``
    -> the private ``_de_core(**kwargs)`` -> ``dc.get_bayes_factors(**kwargs)`` with ``dc =
    DifferentialComputation(...)``; a classmethod's ``cls(**kwargs)`` -> the class. Private
    helpers on the way are followed (:func:`_follow`); every branch (SCVI's DE calls
    ``_de_core`` or ``_de_core_for_annbatch``) must end at the same callable of the index
    (``kwargs_target``), whose parameters, and route, then decide. A callee that cannot be
    resolved statically (``self.module(...)``) leaves the method without a route."""
    followed = _follow(qualname, set(), symbols, source, depth=0, positional=0)
    if followed is None:
        return
    _set_route(slim, "call", *followed)


def _dropping_route(qualname: str, slim: dict, symbols: dict, source) -> None:
    """Record ``kwargs_to: "call"`` with ``kwargs_drops: [P, C]`` for a classmethod that
    builds its class from a fitted model, ``P``, annotated as class ``C``
    (``SCANVI.from_scvi_model(scvi_model: SCVI, ..., **scanvi_kwargs)``): it copies its
    ``**kwargs``, deletes each key that ``P.init_params_`` holds (:func:`_dropping_loop`;
    those are keywords ``C`` took when it was built) and hands the rest to ``cls(...)`` as
    the one use left (:func:`_splat_calls`). A keyword that neither the class nor ``C``
    takes is never deleted and raises TypeError there; one only ``C`` takes may be dropped
    (with a warning) or raise, depending on how ``P`` was built."""
    found = _any_def(qualname, source)
    if found is None or "classmethod" not in (slim.get("decorators") or ()):
        return
    node, module, owner = found
    if owner is None or node.args.kwarg is None or len(node.args.args) < 2:
        return
    var, first = node.args.kwarg.arg, node.args.args[1]
    made = source.resolver.dotted(module, ast.unparse(first.annotation)) \
        if first.annotation is not None else None
    if (symbols.get(made) or {}).get("kind") != "class":
        return
    loop = _dropping_loop(node, var, first.arg)
    if loop is None:
        return
    rest = copy.copy(node)
    rest.body = [stmt for stmt in node.body if stmt is not loop]
    calls = _splat_calls(rest, var)
    if not calls or {ast.unparse(call.func) for call in calls} != {"cls"}:
        return
    target = _callee("cls", node, module, owner, source)
    if (symbols.get(target) or {}).get("kind") != "class":
        return
    own = {a.arg for a in node.args.args + node.args.kwonlyargs}
    beside = set.intersection(*({k.arg for k in call.keywords if k.arg} for call in calls))
    given = 0 if any(isinstance(a, ast.Starred) for call in calls for a in call.args) \
        else min(len(call.args) for call in calls)
    names = [p["name"] for p in symbols[target].get("params") or []
             if p.get("kind") in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    _set_route(slim, "call", target, set(), (beside | set(names[:given])) - own)
    slim["kwargs_drops"] = [first.arg, made]


def _dropping_loop(node: ast.FunctionDef, var: str, param: str) -> ast.For | None:
    """The one statement of ``node``'s body that uses ``var`` other than as
    :func:`_splat_calls` allows, when it is ``for k, ... in D: ... if k in var[.keys()]:
    ... del var[k]`` with ``D`` made, by the statements before it, from
    ``param.init_params_`` only (``init_params = scvi_model.init_params_``, its
    ``"non_kwargs"`` and flattened ``"kwargs"``): the keys it deletes are keys of those
    init params. None otherwise."""
    derived: set[str] = set()
    loops = []
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            free = _free_names(stmt.value)
            held = any(isinstance(sub, ast.Attribute) and sub.attr == "init_params_"
                       and isinstance(sub.value, ast.Name) and sub.value.id == param
                       for sub in ast.walk(stmt.value))
            if (held or free & derived) and free <= derived | {param}:
                derived.add(stmt.targets[0].id)
            else:
                derived.discard(stmt.targets[0].id)
        elif isinstance(stmt, ast.For) and any(
                isinstance(sub, ast.Name) and sub.id == var for sub in ast.walk(stmt)):
            loops.append((stmt, set(derived)))
    if len(loops) != 1:
        return None
    loop, made = loops[0]
    target = loop.target.elts[0] if isinstance(loop.target, ast.Tuple) and loop.target.elts \
        else loop.target
    iterated = _free_names(loop.iter)
    if not isinstance(target, ast.Name) or not iterated or not iterated <= made:
        return None
    key = target.id
    if any(isinstance(sub, ast.Name) and sub.id == key and isinstance(sub.ctx, ast.Store)
           for stmt in loop.body for sub in ast.walk(stmt)):
        return None  # the key is rebound in the loop: what it deletes is unknown

    def holds(test: ast.expr) -> bool:  # k in var, k in var.keys()
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], ast.In) and isinstance(test.left, ast.Name)
                and test.left.id == key):
            return False
        where = test.comparators[0]
        if isinstance(where, ast.Call) and isinstance(where.func, ast.Attribute) \
                and where.func.attr == "keys" and not where.args and not where.keywords:
            where = where.func.value
        return isinstance(where, ast.Name) and where.id == var

    allowed = 0
    for sub in ast.walk(loop):
        if isinstance(sub, ast.If) and holds(sub.test):
            allowed += 1
        elif isinstance(sub, ast.Delete) and all(
                isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                and t.value.id == var and isinstance(t.slice, ast.Name) and t.slice.id == key
                for t in sub.targets):
            allowed += len(sub.targets)
    uses = sum(1 for sub in ast.walk(loop) if isinstance(sub, ast.Name) and sub.id == var)
    return loop if allowed and uses == allowed else None


def _free_names(value: ast.expr) -> set[str]:
    """The names ``value`` reads that it does not bind itself (a comprehension's targets)."""
    loads = {sub.id for sub in ast.walk(value) if isinstance(sub, ast.Name)
             and isinstance(sub.ctx, ast.Load)}
    return loads - {sub.id for sub in ast.walk(value) if isinstance(sub, ast.Name)
                    and isinstance(sub.ctx, ast.Store)}


def _set_route(slim: dict, kind: str, target: str, keys: set[str], fixed: set[str]) -> None:
    """Record a class's or callable's route: ``kwargs_to`` (``kind``), ``kwargs_target``,
    and the ``kwargs_keys`` and ``kwargs_fixed`` when there are any."""
    slim["kwargs_to"] = kind
    slim["kwargs_target"] = target
    if keys:
        slim["kwargs_keys"] = sorted(keys)
    if fixed:
        slim["kwargs_fixed"] = sorted(fixed)


def _follow(current: str, consumed: set[str], symbols: dict, source, *, depth: int,
            positional: int) -> tuple[str, set[str], set[str]] | None:
    """Where the ``**kwargs`` of ``current`` end: ``(callable of the index, keywords a def on
    the way takes, keywords a call on the way already passes)``. A keyword a call passes
    itself, by name or by position (``_de_core(manager, ..., fdr_target, **kwargs)`` binds
    ``fdr``), raises "multiple values" when it comes through the ``**kwargs`` too. Over
    several branches a keyword is taken when one branch takes it and collides only when every
    branch that calls on collides (a helper that only reads some keys, SCVI's DE on a
    dataloader, takes those and ignores the rest: ``("", keys, set())``); None when they end
    at different callables or anywhere unresolved."""
    if depth > MAX_HOPS:
        return None
    found = _any_def(current, source)
    if found is None:
        return None
    node, module, owner = found
    if node.args.kwarg is None:
        return None
    own = {a.arg for a in node.args.args + node.args.kwonlyargs} - {"self", "cls"}
    keys = fixed = set()
    if depth:
        bound = set(_positional_names(node, owner)[:positional])
        keys, fixed = own - consumed - bound, bound - consumed
    consumed = consumed | own
    reads: set[str] = set()
    calls = _splat_calls(node, node.args.kwarg.arg, reads)
    if not calls and depth and reads:
        # a helper that only reads some keys (``kwargs.get("n_samples_overall", 5000)``):
        # those are taken, any other keyword is ignored there, without an error
        return "", keys | reads, set()
    by_callee: dict[str, list[ast.Call]] = {}
    for call in calls:
        by_callee.setdefault(ast.unparse(call.func), []).append(call)
    if not by_callee:
        return None
    keys = keys | reads
    ends = []
    for text, group in by_callee.items():
        target = _callee(text, node, module, owner, source)
        if target is None:
            return None
        beside = set.intersection(*({k.arg for k in call.keywords if k.arg} for call in group))
        given = 0 if any(isinstance(a, ast.Starred) for call in group for a in call.args) \
            else min(len(call.args) for call in group)
        if target in symbols:
            names = [p["name"] for p in symbols[target].get("params") or []
                     if p.get("kind") in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
            ends.append((target, set(), (beside | set(names[:given])) - consumed))
            continue
        deeper = _follow(target, consumed, symbols, source, depth=depth + 1, positional=given)
        if deeper is None:
            return None
        ends.append((deeper[0], deeper[1], deeper[2] | (beside - consumed)))
    targets = {end[0] for end in ends if end[0]}
    if len(targets) != 1:
        return None
    calling = [end[2] for end in ends if end[0]]  # a reading branch ignores a collision
    return (targets.pop(), keys | set.union(*(end[1] for end in ends)),
            fixed | set.intersection(*calling))


def _lazily_served(module: str, name: str, resolver) -> str | None:
    """A name ``module`` imports from a package that serves it through a module
    ``__getattr__`` the source map does not read (``scvi.model.utils`` returns
    ``_de_core_for_annbatch`` of its ``_annbatch_de_core``): the one function of that
    name defined in the package's own modules; None when there is not exactly one."""
    binding = resolver.modules[module].bindings.get(name) if module in resolver.modules else None
    if binding is None or binding.kind != "import":
        return None
    package = binding.target
    found = {info.bindings[name].target for mod, info in resolver.modules.items()
             if mod.startswith(f"{package}.") and name in info.bindings
             and info.bindings[name].kind == "def"}
    return found.pop() if len(found) == 1 else None


def _positional_names(node: ast.FunctionDef, owner: str | None) -> list[str]:
    """The parameters a call's positional arguments bind, in order (a method's ``self`` or
    ``cls`` left out)."""
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    return names[1:] if owner and names and names[0] in ("self", "cls") else names


def _any_def(qualname: str, source) -> tuple[ast.FunctionDef, str, str | None] | None:
    """``(def node, its module, its class or None)`` of a function or method qualname,
    public or private, read from its module's file."""
    resolver = source.resolver
    head, _, name = qualname.rpartition(".")
    owner = head if head in resolver.classes else None
    module = resolver.class_module.get(head) if owner else head
    info = resolver.modules.get(module or "")
    tree = source.parsed.module(info.path) if info else None
    if tree is None:
        return None
    body = tree.body
    if owner:
        cls = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                    and n.name == owner.rsplit(".", 1)[-1]), None)
        body = cls.body if cls else []
    node = next((n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                 and n.name == name), None)
    return (node, module, owner) if node is not None else None


def _callee(text: str, node: ast.FunctionDef, module: str, owner: str | None,
            source) -> str | None:
    """The qualname ``text`` calls inside ``node``: a name of its module, ``cls`` (the
    owner class), ``self.m`` / ``cls.m`` (a member along the owner's MRO), ``super().m`` (the
    next class's), or ``v.m`` where ``v = SomeClass(...)`` in the same def; None otherwise."""
    resolver = source.resolver
    head, _, attr = text.partition(".")
    if not attr:
        if text == "cls":
            return owner if owner and not _overridden(owner, "__init__", resolver) else None
        return resolver.dotted(module, text) or _lazily_served(module, text, resolver)
    if "." in attr:
        return None
    if head in ("self", "cls") and owner:
        return None if _overridden(owner, attr, resolver) else resolver.member(owner, attr)
    if head == "super()" and owner:
        for base in resolver.linearize(owner)[1:]:
            if attr in resolver.classes[base]["members"]:
                return resolver.classes[base]["members"][attr]
        return None
    made = [sub.value.func for sub in ast.walk(node) if isinstance(sub, ast.Assign)
            and isinstance(sub.value, ast.Call) and len(sub.targets) == 1
            and isinstance(sub.targets[0], ast.Name) and sub.targets[0].id == head]
    if len(made) == 1:
        cls = resolver.dotted(module, ast.unparse(made[0]))
        if cls in resolver.classes:
            return resolver.member(cls, attr)
    return None


def _overridden(owner: str, attr: str, resolver) -> bool:
    """Whether a class of the tree below ``owner`` defines ``attr`` itself: then ``self.attr``
    (or ``cls(...)``, for ``__init__``) may be that class's at run time, not the one the
    owner's MRO gives."""
    return any(cls != owner and owner in resolver.linearize(cls)
               and attr in resolver.classes[cls]["members"]
               and resolver.classes[cls]["members"][attr] != resolver.member(owner, attr)
               for cls in resolver.classes)


def _next_init(mro: list[str], start: int, source) -> tuple[int, ast.FunctionDef] | None:
    """The first ``__init__`` defined along ``mro`` from ``start``, with its class's place."""
    for position in range(start, len(mro)):
        node = _class_node(source, mro[position])
        if node is None:
            return None
        init = next((m for m in node.body
                     if isinstance(m, ast.FunctionDef) and m.name == "__init__"), None)
        if init is not None:
            return position, init
    return None


def _def_node(source, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The def of a function or method symbol, found at its path and line."""
    symbol = source.by_qualname.get(qualname)
    tree = source.parsed.module(symbol["path"]) if symbol else None
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                and node.lineno == symbol["line"] and node.name == qualname.rsplit(".", 1)[-1]:
            return node
    return None


def _empty_dict(node: ast.expr) -> bool:
    """``{}`` or ``dict()``."""
    return (isinstance(node, ast.Dict) and not node.keys) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id == "dict" and not node.args and not node.keywords)


def _kept_dict(value: ast.expr, param: str) -> bool:
    """``P or {}``, ``{} if P is None else P`` (or ``dict()``), ``P.copy()``, ``dict(P)``,
    ``copy(P)``, ``deepcopy(P)`` and ``merge_kwargs(config, P, name=...)`` (the overrides
    win): a reassignment of parameter ``P`` that keeps every key the caller gave."""
    def is_param(node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id == param

    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
        return is_param(value.values[0]) and all(_empty_dict(v) for v in value.values[1:])
    if isinstance(value, ast.IfExp):
        branches = [value.body, value.orelse]
        return any(is_param(b) for b in branches) and all(
            is_param(b) or _empty_dict(b) for b in branches)
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "merge_kwargs":
            overrides = value.args[1:2] + [k.value for k in value.keywords if k.arg == "overrides"]
            return len(overrides) == 1 and is_param(overrides[0])
        if value.keywords:
            return False
        if isinstance(func, ast.Attribute) and func.attr == "copy" and is_param(func.value):
            return not value.args
        return name in ("dict", "copy", "deepcopy") and len(value.args) == 1 \
            and is_param(value.args[0])
    return False


def _overwritten_keys(node: ast.FunctionDef | ast.AsyncFunctionDef, params: set[str],
                      spoiled: set[str]) -> dict[str, tuple[int, dict[str, str]]]:
    """For each dict parameter ``P`` the function keeps (not in ``spoiled``), the keys its
    body then sets unconditionally, by a statement of its own block: ``P.update({...})``
    (or of a dict literal assigned before, ``update_dict``) and ``P["key"] = ...``. Each key
    maps to the parameter whose value it takes (``"lr": lr``), or ``""``; with the line of
    the first such statement. The caller's value for such a key is replaced."""
    literals: dict[str, ast.Dict] = {}
    found: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}

    def source(value: ast.expr) -> str:
        # The one parameter the value is made from ("lr": lr; "n": n if n is not None else m).
        used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name) and n.id in params}
        return used.pop() if len(used) == 1 else ""

    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and isinstance(stmt.value, ast.Dict):
                literals[target.id] = stmt.value
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                    and target.value.id in params and target.value.id not in spoiled \
                    and isinstance(target.slice, ast.Constant) \
                    and isinstance(target.slice.value, str):
                found.setdefault(target.value.id, {})[target.slice.value] = source(stmt.value)
                lines.setdefault(target.value.id, stmt.lineno)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr == "update"
                    and isinstance(func.value, ast.Name) and func.value.id in params
                    and func.value.id not in spoiled and len(call.args) == 1
                    and not call.keywords):
                continue
            arg = call.args[0]
            given = arg if isinstance(arg, ast.Dict) else \
                literals.get(arg.id) if isinstance(arg, ast.Name) else None
            for key, value in zip(given.keys if given else (), given.values if given else ()):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    found.setdefault(func.value.id, {})[key.value] = source(value)
                    lines.setdefault(func.value.id, stmt.lineno)
    # A key the function reads from P itself (P.get("lr", lr), P["lr"], P.pop("lr")) may
    # keep the caller's value: not counted.
    for sub in ast.walk(node):
        key = None
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                and sub.func.attr in ("get", "pop", "setdefault") and sub.args \
                and isinstance(sub.func.value, ast.Name) and isinstance(sub.args[0], ast.Constant):
            param, key = sub.func.value.id, sub.args[0].value
        elif isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Load) \
                and isinstance(sub.value, ast.Name) and isinstance(sub.slice, ast.Constant):
            param, key = sub.value.id, sub.slice.value
        if key is not None and param in found:
            found[param].pop(key, None)
    return {param: (lines[param], keys) for param, keys in found.items() if keys}


def _dict_params(qualname: str, slim: dict, source) -> None:
    """Record ``kwargs_overwritten`` (:func:`_overwritten_keys`) and ``splat_fixed``: for a
    dict parameter ``P`` of a function or method that is
    passed on as ``**P`` to calls which also pass keywords themselves (``train`` ->
    ``self._data_splitter_cls(..., batch_size=batch_size, **datasplitter_kwargs)``), the
    keywords every such call passes, less the keys the function pops or deletes from ``P``
    first: ``[line of the first call, keywords]``. A key among them in the caller's ``P``
    makes Python raise "got multiple values for keyword argument". A parameter the function
    reassigns other than keeping its keys (``P = P or {}``) is left out."""
    node = _def_node(source, qualname)
    if node is None:
        return
    params = {a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
    calls: dict[str, list[tuple[int, set[str]]]] = {}
    callees: dict[str, set[str]] = {}
    spoiled: set[str] = set()
    removed: dict[str, set[str]] = {}
    with_setup_args: dict[str, int] = {}
    emptied = _emptied_when_none(node, params)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            for keyword in sub.keywords:
                if keyword.arg is None and isinstance(keyword.value, ast.Name) \
                        and keyword.value.id in params:
                    calls.setdefault(keyword.value.id, []).append(
                        (sub.lineno, {k.arg for k in sub.keywords if k.arg is not None}))
                    callees.setdefault(keyword.value.id, set()).add(ast.unparse(sub.func))
                    if any(k.arg is None and _setup_args_of(k.value) for k in sub.keywords):
                        with_setup_args.setdefault(keyword.value.id, sub.lineno)
            func = sub.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and func.value.id in params and func.attr == "pop":
                if sub.args and isinstance(sub.args[0], ast.Constant):
                    removed.setdefault(func.value.id, set()).add(str(sub.args[0].value))
                else:
                    spoiled.add(func.value.id)
        elif isinstance(sub, ast.Delete):
            for target in sub.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                        and target.value.id in params:
                    if isinstance(target.slice, ast.Constant):
                        removed.setdefault(target.value.id, set()).add(str(target.slice.value))
                    else:
                        spoiled.add(target.value.id)
        elif isinstance(sub, ast.Assign | ast.AnnAssign | ast.AugAssign):
            for target in _assigned(sub):
                if isinstance(target, ast.Name) and target.id in params and id(sub) not in emptied \
                        and not (isinstance(sub, ast.Assign | ast.AnnAssign)
                                 and sub.value is not None and _kept_dict(sub.value, target.id)):
                    spoiled.add(target.id)
    overwritten = _overwritten_keys(node, params, spoiled)
    if overwritten:
        slim["kwargs_overwritten"] = {param: [line, dict(sorted(keys.items()))]
                                      for param, (line, keys) in sorted(overwritten.items())}
    fixed, to = {}, {}
    for param, sites in sorted(calls.items()):
        if param in spoiled:
            continue
        keywords = set.intersection(*(keys for _, keys in sites)) - removed.get(param, set())
        if keywords:
            fixed[param] = [min(line for line, _ in sites), sorted(keywords)]
        target = _one_callee(qualname, callees.get(param, set()), source)
        if target:
            to[param] = target
    if fixed:
        slim["splat_fixed"] = fixed
    if to:
        slim["splat_to"] = to
    setup = {}
    model = _reference_model(qualname, node, source) if with_setup_args else ""
    for param, line in sorted(with_setup_args.items()):
        keys = sorted(set(_setup_params(model, source)) - removed.get(param, set())) \
            if model and param not in spoiled else []
        if keys:
            setup[param] = [line, model, keys]
    if setup:
        slim["splat_setup_args"] = setup


def _emptied_when_none(node: ast.FunctionDef | ast.AsyncFunctionDef, params: set[str]) -> set[int]:
    """Ids of the ``P = {}`` (or ``dict()``) assignments that stand alone in the body of an
    ``if P is None:`` for a parameter ``P``: like ``P = P or {}``, they keep every key the
    caller gave (DestVI.from_rna_model's ``anndata_setup_kwargs``)."""
    found = set()
    for sub in ast.walk(node):
        if not (isinstance(sub, ast.If) and isinstance(sub.test, ast.Compare)
                and isinstance(sub.test.left, ast.Name) and sub.test.left.id in params
                and len(sub.test.ops) == 1 and isinstance(sub.test.ops[0], ast.Is)
                and isinstance(sub.test.comparators[0], ast.Constant)
                and sub.test.comparators[0].value is None):
            continue
        for stmt in sub.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                    and isinstance(stmt.targets[0], ast.Name) \
                    and stmt.targets[0].id == sub.test.left.id and _empty_dict(stmt.value):
                found.add(id(stmt))
    return found


SETUP_ARGS_KEYS = ("_SETUP_ARGS_KEY", "setup_args")
"""How scvi-tools names the key of a registry's setup arguments (``scvi.data._constants``):
``registry[_SETUP_ARGS_KEY]`` holds every argument its model's ``setup_anndata`` was called
with (``BaseModelClass._get_setup_method_args``: all of its parameters, defaults too, less
``adata``, ``mdata`` and ``kwargs``)."""


def _setup_args_of(value: ast.expr) -> bool:
    """``X[_SETUP_ARGS_KEY]`` (or ``X["setup_args"]``, ``X[_constants._SETUP_ARGS_KEY]``):
    another model's saved setup arguments."""
    if not isinstance(value, ast.Subscript):
        return False
    key = value.slice
    if isinstance(key, ast.Attribute):
        return key.attr in SETUP_ARGS_KEYS
    if isinstance(key, ast.Name):
        return key.id in SETUP_ARGS_KEYS
    return isinstance(key, ast.Constant) and key.value in SETUP_ARGS_KEYS


def _reference_model(qualname: str, node: ast.FunctionDef | ast.AsyncFunctionDef,
                     source) -> str:
    """The one model class a method's parameters are annotated with (``sc_model: CondSCVI``),
    when exactly one is and it has a setup method; ``""`` otherwise."""
    owner = qualname.rpartition(".")[0]
    module = source.resolver.class_module.get(owner)
    if module is None:
        return ""
    found = set()
    for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
        if arg.annotation is None:
            continue
        target = source.resolver.dotted(module, ast.unparse(arg.annotation))
        if target and (source.by_qualname.get(target) or {}).get("kind") == "class" \
                and _setup_params(target, source):
            found.add(target)
    return found.pop() if len(found) == 1 else ""


def _setup_params(model: str, source) -> list[str]:
    """The arguments a model's registry keeps as its setup arguments: the parameters of its
    ``setup_anndata`` (or ``setup_mudata``), the first class of its MRO that defines one,
    less ``adata``, ``mdata`` and ``**kwargs``."""
    for cls in source.resolver.linearize(model):
        for method in SETUP_METHODS:
            symbol = source.by_qualname.get(f"{cls}.{method}")
            if symbol and symbol.get("kind") in ("method", "function"):
                return [p["name"] for p in symbol.get("params") or []
                        if p.get("name") not in ("cls", "self", "adata", "mdata")
                        and p.get("kind") in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")]
    return []


SPLITTER_HOOK = "self._data_splitter_cls"
"""A ``train()``'s data splitter call through the model's class attribute: the callee is the
model's ``uses["data_splitter"]``, known only for the model class at hand."""


def _one_callee(qualname: str, callees: set[str], source) -> str:
    """Where every ``**P`` call of a method goes, when that is one class: its qualname, or
    ``"uses:data_splitter"`` for ``self._data_splitter_cls``; ``""`` otherwise."""
    if len(callees) != 1:
        return ""
    (text,) = callees
    if text == SPLITTER_HOOK:
        return "uses:data_splitter"
    owner = qualname.rpartition(".")[0]
    module = source.resolver.class_module.get(owner)
    target = source.resolver.dotted(module, text) if module else None
    return target if target and (source.by_qualname.get(target) or {}).get("kind") == "class" \
        else ""


def _stored_kwargs_fixed(qualname: str, slim: dict, source) -> None:
    """Record ``stored_kwargs_fixed`` for a class whose ``__init__`` (or a base's, through
    ``super().__init__(..., **kwargs)``) keeps its ``**kwargs`` as an attribute that its
    methods pass on as ``**self.attr`` beside keywords they set themselves (DataSplitter's
    loaders: ``shuffle=True, ..., **self.data_loader_kwargs``): ``[line, keywords]``, the
    keywords every such call sets, less the ``__init__`` parameters that take them first and
    keys popped first. Such a key in the caller's ``**kwargs`` raises "got multiple values"
    when the method runs (at the first training step for a data splitter)."""
    resolver = source.resolver
    mro = resolver.linearize(qualname)
    stored = _stored_kwargs(mro, resolver, source)
    if stored is None:
        return
    attr, consumed, removed = stored
    seen: set[str] = set()
    sites: list[tuple[int, set[str]]] = []
    for cls in mro:
        node = _class_node(source, cls)
        for method in (node.body if node else ()):
            if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef) \
                    or method.name in seen:
                continue
            seen.add(method.name)
            for sub in ast.walk(method):
                if isinstance(sub, ast.Call) and any(
                        k.arg is None and isinstance(k.value, ast.Attribute)
                        and k.value.attr == attr and isinstance(k.value.value, ast.Name)
                        and k.value.value.id == "self" for k in sub.keywords):
                    sites.append((sub.lineno, {k.arg for k in sub.keywords if k.arg}))
    if not sites:
        return
    keywords = set.intersection(*(keys for _, keys in sites)) - consumed - removed
    if keywords:
        slim["stored_kwargs_fixed"] = [min(line for line, _ in sites), sorted(keywords)]


def _stored_kwargs(mro: list[str], resolver, source) -> tuple[str, set[str], set[str]] | None:
    """``(attribute, parameters that take keys first, keys popped)`` for the ``__init__``
    along ``mro`` that stores its ``**kwargs`` as ``self.attribute``; None when none does."""
    consumed: set[str] = set()
    removed: set[str] = set()
    for cls in mro:
        node = _class_node(source, cls)
        init = next((m for m in (node.body if node else ())
                     if isinstance(m, ast.FunctionDef) and m.name == "__init__"), None)
        if init is None:
            continue
        if init.args.kwarg is None:
            return None
        var = init.args.kwarg.arg
        consumed |= {a.arg for a in init.args.args + init.args.kwonlyargs}
        removed |= {str(sub.args[0].value) for sub in ast.walk(init)
                    if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "pop" and isinstance(sub.func.value, ast.Name)
                    and sub.func.value.id == var and sub.args
                    and isinstance(sub.args[0], ast.Constant)}
        passed_up = False
        for sub in ast.walk(init):
            if isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Name) \
                    and sub.value.id == var:
                for target in sub.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == "self":
                        return target.attr, consumed, removed
            elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                    and sub.func.attr == "__init__" and any(
                        k.arg is None and isinstance(k.value, ast.Name) and k.value.id == var
                        for k in sub.keywords):
                passed_up = True  # super().__init__(..., **kwargs): the next __init__ stores
        if not passed_up:
            return None
    return None


def _route_of(qualname: str, slim: dict, symbols: dict, source) -> str | None:
    if "kwargs_to" not in slim:
        _kwargs_route(qualname, slim, symbols, source)
    return slim.get("kwargs_to")


def _trainer_keywords(source) -> list[str]:
    """Keywords ``train(**trainer_kwargs)`` can carry: TrainRunner's own and the ones it
    pops, scvi.train.Trainer's, and the Lightning Trainer's."""
    keywords = set(LIGHTNING_TRAINER_PARAMS)
    for public in ("scvi.train.Trainer", "scvi.train.TrainRunner"):
        qualname = source.namespaces.get(public)
        symbol = source.by_qualname.get(qualname or "")
        if symbol is None:
            continue
        keywords.update(p["name"] for p in symbol.get("params") or []
                        if p.get("kind") in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"))
        init = _function_node(source, f"{qualname}.__init__")
        if init is not None:
            for sub in ast.walk(init):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                        and sub.func.attr == "pop" and sub.args \
                        and isinstance(sub.args[0], ast.Constant):
                    keywords.add(str(sub.args[0].value))
    return sorted(keywords)


# -- history -------------------------------------------------------------------------------------


def build_history(releases: list[dict]) -> dict:
    """For every public name and every parameter of a public callable: the spans of
    consecutive releases (indexes into ``versions``) that have it; and the defaults that
    changed."""
    versions = [r["version"] for r in releases]
    names: dict[str, list[int]] = {}
    params: dict[str, dict[str, list[int]]] = {}
    defaults: dict[str, dict[str, list[list]]] = {}
    publics = [_with_returned_members(release) for release in releases]
    for i, release in enumerate(releases):
        symbols = release["symbols"]
        for public, qualname in publics[i].items():
            names.setdefault(public, []).append(i)
            symbol = symbols.get(qualname)
            if symbol is None or symbol.get("params_known") is False:
                continue
            if symbol["kind"] not in ("function", "method", "class"):
                continue
            table = params.setdefault(public, {})
            for param in symbol.get("params") or []:
                if param.get("kind") in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"):
                    table.setdefault(param["name"], []).append(i)
                    runs = defaults.setdefault(public, {}).setdefault(param["name"], [])
                    value = param.get("default")
                    if runs and runs[-1][0] == value and runs[-1][2] == i - 1:
                        runs[-1][2] = i
                    else:
                        runs.append([value, i, i])
    return {
        "_generated": ("generated by scripts/build_api_index.py from the per-release API "
                       f"indexes; do not edit; regenerate: {REGENERATE_API}"),
        "format": API_FORMAT,
        "defaults": {name: changed for name, table in sorted(defaults.items())
                     if (changed := {p: runs for p, runs in sorted(table.items())
                                     if len({run[0] for run in runs}) > 1})},
        "names": {name: index_spans(seen) for name, seen in sorted(names.items())},
        "params": {name: {p: index_spans(seen) for p, seen in sorted(table.items())}
                   for name, table in sorted(params.items())},
        "bound": _bound_spans(releases, names),
        "defined": _private_defs(releases, publics, names),
        "private": _private_members(releases, publics, names),
        "outside": _outside_members(releases, publics, names),
        "versions": versions,
    }


def _bound_spans(releases: list[dict], names: dict[str, list[int]]) -> dict[str, list]:
    """Public name -> the releases whose package's ``__init__`` binds it while its
    ``__all__`` leaves it out (``bound``): importable there, though not public
    (``scvi.model.get_max_epochs_heuristic`` of 1.1-1.3); only names some release has public."""
    seen: dict[str, list[int]] = {}
    for i, release in enumerate(releases):
        for package, bound in (release.get("bound") or {}).items():
            for name in (f"{package}.{n}" for n in bound):
                if name in names:
                    seen.setdefault(name, []).append(i)
    return {name: index_spans(found) for name, found in sorted(seen.items())}


def _private_defs(releases: list[dict], publics: list[dict[str, str]],
                  names: dict[str, list[int]]) -> dict[str, dict]:
    """Public name (not a class member) -> ``{"qualname", "spans"}``: the def it names in its
    last release and the releases whose source defines that qualname, for a name whose def
    some release has without any public name (``scvi.model._utils.get_max_epochs_heuristic``
    since 1.0.0, public as ``scvi.model.get_max_epochs_heuristic`` since 1.4.3)."""
    out = {}
    for name, seen in sorted(names.items()):
        last, had = seen[-1], set(seen)
        qualname = publics[last][name]
        symbols = releases[last]["symbols"]
        parent = symbols.get(publics[last].get(name.rpartition(".")[0], "")) or {}
        if qualname == name or qualname not in symbols or parent.get("kind") == "class":
            continue
        defined = [i for i, release in enumerate(releases) if qualname in release["symbols"]]
        if any(i not in had and not releases[i]["symbols"][qualname].get("public")
               for i in defined):
            out[name] = {"qualname": qualname, "spans": index_spans(defined)}
    return out


def _private_members(releases: list[dict], publics: list[dict[str, str]],
                     names: dict[str, list[int]]) -> dict[str, dict]:
    """Public class member ``Owner.m`` -> ``{"private": "_m", "spans"}``: the releases that
    lack the public name while the class ``Owner`` names there (or a base along its MRO)
    defines the private method ``_m`` (``RNASeqMixin.get_importance_weights``, public since
    1.4.0, was ``_get_importance_weights`` before): a name made public is not new code."""
    out = {}
    for name, seen in sorted(names.items()):
        owner, _, member = name.rpartition(".")
        if not owner or member.startswith("_"):
            continue
        had, private, found = set(seen), "_" + member, []
        for i, release in enumerate(releases):
            qualname = publics[i].get(owner, "")
            cls = release["symbols"].get(qualname) or {}
            if i in had or cls.get("kind") != "class":
                continue
            chain = [qualname] + [b for b in cls.get("mro") or [] if b != qualname]
            if any(private in (release["symbols"].get(base) or {}).get("private", ())
                   for base in chain):
                found.append(i)
        if found:
            out[name] = {"private": private, "spans": index_spans(found)}
    return out


def _outside_members(releases: list[dict], publics: list[dict[str, str]],
                     names: dict[str, list[int]]) -> dict[str, dict]:
    """Public class member -> ``{"bases", "spans"}``: the releases where its class is public
    and has bases of other packages (``bases``, :data:`EXTERNAL_BASES`) while scvi-tools'
    source does not define the member, the build does not know it absent
    (:func:`_absent_members`) and one of those bases has it or is not a base whose members
    the build knows (:func:`base_supplies`): such a base may supply it there
    (``pyro.distributions.BetaBinomial`` the ``sample`` of ``scvi.distributions.BetaBinomial``
    before 1.5.1)."""
    seen: dict[str, list[int]] = {}
    bases: dict[str, list[str]] = {}
    for i, release in enumerate(releases):
        external = release.get(EXTERNAL_BASES) or {}
        absent = set(release.get("absent_members") or ())
        for name in names:
            parent, _, member = name.rpartition(".")
            owner = publics[i].get(parent)
            if owner not in external or name in publics[i] or name in absent or all(
                    base_supplies(base, member) is False for base in external[owner]):
                continue
            seen.setdefault(name, []).append(i)
            found = bases.setdefault(name, [])
            found += [base for base in external[owner] if base not in found]
    return {name: {"bases": bases[name], "spans": index_spans(found)}
            for name, found in sorted(seen.items())}


def _with_returned_members(release: dict) -> dict[str, str]:
    """The release's namespaces, and for a public class whose ``__new__`` returns instances
    of other classes (``new_returns``), their public members under the class's name
    (``scvi.external.MRVI.get_latent_representation`` of 1.4.x: ``TorchMRVI``'s; the first
    returned class that has a member gives it), in place of the class's own unless that is a
    classmethod or staticmethod: what its instances have."""
    namespaces, symbols = release["namespaces"], release["symbols"]
    by_qualname: dict[str, list[str]] = {}
    for public, qualname in namespaces.items():
        by_qualname.setdefault(qualname, []).append(public)
    added: dict[str, str] = {}
    for public, qualname in namespaces.items():
        for returned in (symbols.get(qualname) or {}).get("new_returns") or ():
            for other in by_qualname.get(returned, ()):
                for name, target in namespaces.items():
                    head, _, last = name.rpartition(".")
                    own = namespaces.get(f"{public}.{last}")
                    if head == other and (own is None or not class_level(symbols.get(own) or {})):
                        added.setdefault(f"{public}.{last}", target)
    return {**namespaces, **added}


def build_gone_messages(releases: list[dict]) -> dict:
    """The ``gone_messages.json`` object: ``versions`` (every release read, oldest first: the
    0.x releases read for their messages only, then the indexed ones) and ``messages``,
    template -> ``{"spans": ..., "site": [path, line, kind, exception]}`` for each message of
    at least :data:`MIN_GONE_WORDS` static words that an earlier release has and the last one
    lacks: the releases that have it (indexes into ``versions``) and its site in the last of
    them. A file of its own: a pasted error reads it without decoding the whole history."""
    return {"_generated": ("generated by scripts/build_api_index.py from each release's sdist; "
                           f"do not edit; regenerate: {REGENERATE_API}"),
            "format": API_FORMAT, "versions": [r["version"] for r in releases],
            "messages": _gone_messages(releases)}


def _gone_messages(releases: list[dict]) -> dict[str, dict]:
    if not releases:
        return {}
    last = set(releases[-1].get(MESSAGES) or {})
    seen: dict[str, list[int]] = {}
    sites: dict[str, list] = {}
    for i, release in enumerate(releases[:-1]):
        for template, site in (release.get(MESSAGES) or {}).items():
            if template in last or len(template_words(template)[0]) < MIN_GONE_WORDS:
                continue
            seen.setdefault(template, []).append(i)
            sites[template] = site
    return {template: {"spans": index_spans(seen[template]), "site": sites[template]}
            for template in sorted(seen)}


def _absent_members(release: dict, everywhere: set[str]) -> list[str]:
    """Members of this release's open classes that another release defines in-tree and this
    one lacks: the lookup cannot rule them out from the class alone (an outside base might
    supply them), the other releases can."""
    namespaces, symbols = release["namespaces"], release["symbols"]
    external = release.get(EXTERNAL_BASES) or {}
    absent = []
    for name in everywhere - set(namespaces):
        parent, _, member = name.rpartition(".")
        owner = symbols.get(namespaces.get(parent, ""))
        if owner is None or owner["kind"] != "class" or owner.get("closed"):
            continue
        if member in EXTERNAL_MEMBERS or member.startswith(("on_", "_")) or any(
                base_supplies(base, member) for base in external.get(namespaces[parent], ())):
            continue
        absent.append(name)
    return sorted(absent)


def dump_gz(data: dict) -> bytes:
    """Deterministic gzip of sorted, compact JSON (no timestamp, no file name)."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def release_outputs(releases: list[dict], early: list[dict] | None = None) -> dict[str, bytes]:
    """File name -> bytes for ``references/api/``: one file per distinct API (a post release
    whose API equals the one before shares its file), the history and the manifest."""
    outputs: dict[str, bytes] = {}
    files: dict[str, str] = {}
    everywhere = set().union(*(r["namespaces"] for r in releases)) if releases else set()
    for release in releases:
        release["absent_members"] = _absent_members(release, everywhere)
    previous_key, previous_name = None, None
    # What a release needs to run (Python, packages) goes in the manifest, not in its index.
    python = {r["version"]: r.get("requires_python", "") for r in releases}
    requires = {r["version"]: r.get("requires") or {} for r in releases}
    for release in releases:
        release = {k: v for k, v in release.items()
                   if k not in ("requires_python", "requires", MESSAGES, DEPENDENCY_USES,
                                DEPENDENCY_ALIASES, EXTERNAL_BASES)}
        # A class's private methods serve the history (made public later) alone.
        release["symbols"] = {q: {k: v for k, v in symbol.items() if k != "private"}
                              for q, symbol in release["symbols"].items()}
        key = json.dumps({k: v for k, v in release.items() if k not in ("_generated", "version")},
                         sort_keys=True)
        if key == previous_key:
            files[release["version"]] = previous_name
            continue
        name = release_file_name(release["version"])
        outputs[name] = dump_gz(release)
        files[release["version"]] = name
        previous_key, previous_name = key, name
    outputs["history.json.gz"] = dump_gz(build_history(releases))
    outputs[DEPENDENCY_USES_FILE] = dump_gz(build_dependency_uses((early or []) + releases))
    outputs[GONE_MESSAGES] = (json.dumps(build_gone_messages((early or []) + releases),
                                         sort_keys=True, ensure_ascii=False,
                                         separators=(",", ":")) + "\n").encode("utf-8")
    manifest = {
        "_generated": ("generated by scripts/build_api_index.py; do not edit; regenerate: "
                       f"{REGENERATE_API}"),
        "format": API_FORMAT,
        "releases": [{"version": r["version"], "file": files[r["version"]],
                      "requires": requires[r["version"]],
                      "requires_python": python[r["version"]]} for r in releases],
    }
    outputs["releases.json"] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    return outputs
