"""Shared plumbing for the scvi-tools examples (not an example itself).

Every example imports this module for the same command-line flags, the same input checks and
the same summary line, so that each script can stay about its workflow:

- ``build_parser``: ``--data --layer --batch-key --max-epochs --n-cells --n-genes --accelerator
  --devices --seed --out --overwrite --no-progress-bar`` (plus the example's own flags);
- ``_data.load_input`` (in ``_data.py``): read the user's h5ad (or build synthetic data when
  ``--data`` is not given) and check it *before* training: raw counts, finite, not empty, the
  requested ``.obs`` keys;
- ``prepare_out`` / ``save_model`` / ``write_json`` / ``write_h5ad``: an output folder that is
  created when missing, model folders that are never overwritten without ``--overwrite``, and
  files written atomically (temp file + ``os.replace``);
- ``EpochTimer`` and ``throughput``: seconds per epoch and cells per second from Lightning hooks,
  so process start-up (DDP) and data set-up are not counted as training;
- ``run``: the one place that turns an ``ExampleError`` into ``Error: ...`` and an exit code.

Exit codes shared by all examples: 0 success; 1 the run finished but its check failed (for
example DE did not recover the planted genes); 2 usage error (bad flag, missing file, a key not in
``.obs``, an output that exists without ``--overwrite``); 3 the data cannot be used (not raw
counts, NaN/inf, empty).

Input handling, documented once here:

- X (or ``--layer``) must hold raw counts: non-negative integers. Normalized or log-transformed
  values stop the run with an error naming ``--layer``; ``--allow-non-integer`` accepts
  non-negative non-integer "counts" (e.g. from pseudo-alignment) on purpose.
- NaN or inf anywhere in the counts is an error (scvi-tools would fail later with a NaN loss).
- Genes with zero counts in every cell, and cells with zero total counts, are dropped with a
  warning: a cell with zero counts has log library size -inf and makes the loss NaN.
- Synthetic data (no ``--data``): counts in ``layers["counts"]``, log1p-normalized values in X
  (the usual layout of a processed file), so ``--layer`` defaults to ``counts`` there and to X
  for ``--data``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DATA = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 the run finished but its check failed; 2 usage error (bad flag, "
    "missing file or key, output exists without --overwrite); 3 unusable data (not raw counts, "
    "NaN/inf, empty)."
)
SYNTHETIC_COUNTS_LAYER = "counts"
SYNTHETIC_BATCH_KEY = "batch"
SYNTHETIC_LABELS_KEY = "cell_type"
SYNTHETIC_CATEGORICAL_KEY = "donor"
SYNTHETIC_CONTINUOUS_KEY = "pct_mito"
PROTEIN_OBSM_KEY = "protein_expression"
PROTEIN_NAMES_UNS_KEY = "protein_names"
PLANTED_GENES_UNS_KEY = "planted_de_genes"
PLANTED_PROTEINS_UNS_KEY = "planted_protein_markers"


class ExampleError(Exception):
    """An input or usage problem: ``str(err)`` is the message, ``exit_code`` the exit status."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(ExampleError):
    exit_code = EXIT_USAGE


class DataError(ExampleError):
    exit_code = EXIT_DATA


def warn(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


def run(main_body, argv: list[str] | None) -> int:
    """Call ``main_body(argv)`` and turn an :class:`ExampleError` into one ``Error:`` message."""
    try:
        return main_body(argv)
    except ExampleError as err:
        print(f"Error: {err}", file=sys.stderr)
        if err.hint:
            print(f"  {err.hint}", file=sys.stderr)
        return err.exit_code
    finally:
        _remove_created_if_empty()


# --------------------------------------------------------------------------- command line


def build_parser(prog: str, doc: str, *, labels: bool = False,
                 multi_device: bool = False) -> argparse.ArgumentParser:
    """The flags every example shares; ``doc`` (the module docstring) becomes the help text.

    Only ``multi_device`` examples (``multi_gpu_ddp.py``, which sets a DDP strategy) accept
    more than one device: elsewhere Lightning would take an unsupported path (no distributed
    sampler, early stopping left on), so ``--devices`` above 1 exits 2 naming that script.
    """
    summary, _, rest = doc.strip().partition("\n")
    parser = argparse.ArgumentParser(
        prog=prog,
        description=summary,
        epilog=rest.strip() + "\n\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("input")
    data.add_argument("--data", type=Path, default=None,
                      help="an .h5ad file with raw counts; without it, synthetic data of "
                      "--n-cells cells is built in-process (default: synthetic)")
    data.add_argument("--layer", default=None,
                      help="the .layers entry holding raw counts (default: X for --data, "
                      f"'{SYNTHETIC_COUNTS_LAYER}' for synthetic data)")
    data.add_argument("--batch-key", default=None,
                      help=f"the .obs column with the batch (default: none for --data, "
                      f"'{SYNTHETIC_BATCH_KEY}' for synthetic data)")
    if labels:
        data.add_argument("--labels-key", default=None,
                          help=f"the .obs column with cell labels (required with --data; "
                          f"'{SYNTHETIC_LABELS_KEY}' for synthetic data)")
    data.add_argument("--allow-non-integer", action="store_true",
                      help="accept non-negative non-integer counts (default: error)")
    data.add_argument("--n-cells", type=_positive_int, default=2000,
                      help="cells of synthetic data (default: 2000)")
    data.add_argument("--n-genes", type=_positive_int, default=500,
                      help="genes of synthetic data (default: 500)")
    train = parser.add_argument_group("training")
    train.add_argument("--max-epochs", type=_positive_int, default=None,
                       help="maximum epochs (default: the model's own heuristic)")
    train.add_argument("--batch-size", type=_positive_int, default=None,
                       help="minibatch size (default: the model's own: 128 for SCVI and SCANVI, "
                       "256 for TOTALVI)")
    train.add_argument("--accelerator", choices=["auto", "cpu", "gpu"], default="auto",
                       help="where to train (default: auto = a GPU when present)")
    if multi_device:
        train.add_argument("--devices", type=parse_devices, default="auto",
                           help="number of devices, a comma list of indices, -1 for all, or "
                           "auto (default: auto)")
    else:
        train.add_argument("--devices", type=parse_single_device, default="auto",
                           help="auto, 1, or one device index as 'N,' (default: auto); more "
                           "than one device: examples/multi_gpu_ddp.py")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--no-progress-bar", action="store_true",
                       help="turn Lightning's progress bar off (default: on)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("example_outputs") / prog.removesuffix(".py"),
                     help="output folder, created when missing (default: "
                     "example_outputs/<example>)")
    out.add_argument("--overwrite", action="store_true",
                     help="replace model folders already in --out (default: refuse)")
    return parser


def _int_at_least(least: int, what: str):
    """An argparse type: an integer of at least ``least`` (``what`` names it in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < least:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def parse_devices(text: str) -> int | str | list[int]:
    """``auto``, ``-1``, ``2`` or ``0,1`` in the forms Lightning accepts.

    A comma list names GPU indices; :func:`check_accelerator` refuses it on CPU.
    """
    text = text.strip()
    if text == "auto":
        return text
    try:
        if "," in text:
            indices = [int(part) for part in text.split(",") if part.strip()]
            if not indices or min(indices) < 0 or len(set(indices)) != len(indices):
                raise argparse.ArgumentTypeError(
                    f"--devices {text!r}: a comma list needs distinct GPU indices >= 0")
            return indices
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--devices takes auto, -1, a count or a comma list of indices, got {text!r}"
        ) from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"--devices must be -1 or at least 1, got {value}")
    return value


def parse_single_device(text: str) -> int | str | list[int]:
    """``--devices`` of a single-device example: ``auto``, ``1`` or one index (``2,``)."""
    value = parse_devices(text)
    many = value == -1 or (isinstance(value, int) and value > 1) or (
        isinstance(value, list) and len(value) != 1)
    if many:
        raise argparse.ArgumentTypeError(
            f"{text!r} asks for more than one device; this example trains on one. Use "
            "examples/multi_gpu_ddp.py for DDP over several devices (its effective batch is "
            "--batch-size x devices)")
    return value


def check_accelerator(accelerator: str, devices=None) -> None:
    """Fail before any work when a GPU is requested and torch sees none, or when ``devices``
    lists GPU indices (``0,`` or ``0,1``) for a run on CPU, where Lightning takes only a count
    (and fails with a TypeError deep in its setup)."""
    cuda = False
    if accelerator == "gpu" or (accelerator == "auto" and isinstance(devices, list)):
        import torch

        cuda = torch.cuda.is_available()
    if accelerator == "gpu" and not cuda:
        raise UsageError(
            "--accelerator gpu was given but torch sees no CUDA GPU",
            hint="Use --accelerator cpu (or auto), or install a CUDA build of torch "
            "(pip install 'scvi-tools[cuda]').",
        )
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not cuda)
    if on_cpu and isinstance(devices, list):
        listed = ",".join(map(str, devices)) + ("," if len(devices) == 1 else "")
        raise UsageError(
            f"--devices {listed} lists GPU indices, but the run is on CPU",
            hint="On CPU give a count instead (--devices 1, or --devices 2 for two DDP "
            "processes in multi_gpu_ddp.py).",
        )


def train_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``model.train`` that come straight from the common flags."""
    kwargs = {"max_epochs": args.max_epochs, "accelerator": args.accelerator,
              "devices": args.devices}
    if args.batch_size is not None:  # else the model's own default
        kwargs["batch_size"] = args.batch_size
    return kwargs


# --------------------------------------------------------------------------- output


# Folders prepare_out created in this process (outermost first): run() removes those still
# empty when the script ends, so a run stopped by bad input leaves no empty --out behind.
_CREATED: list[Path] = []


def prepare_out(out: Path, *, model_dirs: list[str], overwrite: bool) -> Path:
    """Create ``out`` and prove it writable; refuse (before any training) to replace a model
    folder in it."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is not a folder")
    for name in model_dirs:
        target = out / name
        if target.exists() and not overwrite:
            raise UsageError(f"{target} already exists; pass --overwrite to replace it")
    missing = [p for p in (out, *out.parents) if not p.exists()][::-1]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    finally:
        _CREATED.extend(p for p in missing if p.is_dir())
    try:  # root passes os.access checks on read-only mounts and /proc: try a real file
        fd, name = tempfile.mkstemp(prefix=".write-test.", dir=out)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise UsageError(f"--out {out}: cannot write files there ({err.strerror})",
                         hint="Pick a folder you can write to.") from None
    return out


def _remove_created_if_empty() -> None:
    """Remove, innermost first, the folders :func:`prepare_out` made that are still empty."""
    while _CREATED:
        path = _CREATED.pop()
        try:
            path.rmdir()  # only ever removes an empty folder
        except OSError:
            _CREATED.clear()  # not empty (or gone): its parents are not empty either


def save_model(model, path: Path, *, overwrite: bool) -> None:
    """Save into a temporary sibling folder, then move it into place."""
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists; pass --overwrite to replace it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
    try:
        model.save(str(tmp), overwrite=True, save_anndata=False)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, data: dict) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(
        json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"))


def write_h5ad(adata, path: Path) -> None:
    _write_atomic(path, lambda tmp: adata.write_h5ad(tmp))


def write_csv(frame, path: Path) -> None:
    _write_atomic(path, lambda tmp: frame.to_csv(tmp))


def _write_atomic(path: Path, write) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes it private; the result should not be
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (``ru_maxrss``)."""
    import resource

    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# --------------------------------------------------------------------------- timing and summary


def make_epoch_timer():
    """A Lightning callback recording the wall time of every training epoch (validation included).

    Built lazily so that ``--help`` and input errors never import Lightning.
    """
    from lightning.pytorch.callbacks import Callback

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.epoch_seconds: list[float] = []
            self._start = 0.0

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if pl_module.device.type == "cuda":
                import torch

                torch.cuda.synchronize(pl_module.device)  # count queued GPU work in this epoch
            self.epoch_seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def throughput(model, timer, *, n_processes: int = 1) -> dict:
    """Cells per second and seconds per epoch of the last ``model.train`` call.

    The training set is split across DDP processes, so the global rate is the number of
    training cells per epoch over rank 0's epoch time (the processes step in lock-step).
    """
    n_train = len(model.train_indices) if model.train_indices is not None else model.adata.n_obs
    seconds = timer.epoch_seconds
    # The first epoch carries one-off costs (allocator warm-up, DDP buckets); leave it out
    # of the steady-state figure when there is more than one. The median resists the odd
    # epoch slowed by other work on the machine.
    steady = seconds[1:] if len(seconds) > 1 else seconds
    per_epoch = float(np.median(steady)) if steady else float("nan")
    return {
        "epochs": len(seconds),
        "n_train_cells": int(n_train),
        "seconds_per_epoch": per_epoch,
        "cells_per_second": n_train / per_epoch if steady and per_epoch > 0 else float("nan"),
        "train_seconds_total": float(sum(seconds)),
        "n_processes": n_processes,
    }


def device_description(model, *, n_processes: int = 1) -> str:
    import torch

    device = getattr(model, "device", None)
    text = str(device) if device is not None else "unknown"
    if isinstance(device, torch.device) and device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(device)})"
    if n_processes > 1:
        text += f", DDP x{n_processes} processes"
    return text


def print_summary(title: str, rows: list[tuple[str, object]], *, device: str, rate: dict) -> None:
    """A short block on stdout ending with the device and the training throughput."""
    print(f"\n== {title} ==")
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"{key:<{width}} : {value}")
    print(f"device: {device}; training throughput: {rate['cells_per_second']:,.0f} cells/s "
          f"({rate['seconds_per_epoch']:.3f} s/epoch over {rate['epochs']} epochs)")
