"""The main job: train with LoRITa, collapse, truncate to a byte budget, quantize, export and evaluate."""

import copy
import functools
import hashlib
import json
import logging
import math
import shutil
import time
from contextlib import contextmanager
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from torch import nn

from edgepipe.errors import BudgetError, ConfigError
from edgepipe.models import DEFAULT_MODEL, create_model, list_models
from edgepipe.pipeline.data import Dataset, Split, load_dataset
from edgepipe.pipeline.emulate import ENGINES, emulate_or_explain
from edgepipe.pipeline.lorita import collapse_, factorize_
from edgepipe.pipeline.interrupts import defer_interrupts
from edgepipe.pipeline.output import REPORT, prepare_output
from edgepipe.pipeline.progress import Progress, silent
from edgepipe.pipeline.quantize import fold_batchnorm_, quantize
from edgepipe.pipeline.runner import MANIFEST, run_artifact
from edgepipe.pipeline.to_executorch import to_executorch
from edgepipe.pipeline.to_tflite import to_tflite
from edgepipe.pipeline.train import TrainConfig, accuracy, train_
from edgepipe.pipeline.rank_policy import POLICIES, Score, select_ranks
from edgepipe.pipeline.truncate import LayerRank, minimum_bytes, singular_values, truncate_
from edgepipe.targets import Target, load_target

logger = logging.getLogger(__name__)

FORMATS = ("pte", "tflite")
# Bytes of each artifact beyond its int8 weights, assumed before the first export measures them.
# Measured on the MLPs here: about 24 kB for .pte and 46 kB for .tflite.
INITIAL_FORMAT_OVERHEAD = 48_000
MAX_EXPORT_ATTEMPTS = 5


@dataclass(frozen=True)
class RunConfig:
    """Everything `edgepipe run` needs; the CLI builds it from its options."""

    target: str = "rpi4"
    budget_bytes: int = 2_000_000
    model: str = DEFAULT_MODEL
    data: str = "fashion-mnist"
    factors: int = 3
    train: TrainConfig = field(default_factory=TrainConfig)
    calibration_size: int = 500
    train_limit: int | None = None
    eval_limit: int | None = None
    emulate: bool = True
    engine: str = "auto"
    samples: int = 1000
    init_from: Path | None = None
    finetune_epochs: int = 0
    rank_policy: str = "greedy"

    def __post_init__(self):
        # Names are checked first so that a typo fails before minutes of data loading and training.
        load_target(self.target)
        if self.model not in list_models():
            create_model(self.model)  # raises with the list of known models
        if self.budget_bytes < 1:
            raise ConfigError(f"budget_bytes must be positive, got {self.budget_bytes}")
        if self.factors < 1:
            raise ConfigError(f"factors must be at least 1, got {self.factors}")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")
        if self.rank_policy not in POLICIES:
            raise ConfigError(f"unknown rank policy {self.rank_policy!r}; choose one of: {', '.join(POLICIES)}")
        if self.finetune_epochs < 0:
            raise ConfigError(f"finetune_epochs must be zero or positive, got {self.finetune_epochs}")
        if self.samples < 1:
            raise ConfigError(f"samples must be at least 1, got {self.samples}")
        if self.calibration_size < 1:
            raise ConfigError(f"calibration_size must be at least 1, got {self.calibration_size}")
        for name in ("train_limit", "eval_limit"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise ConfigError(f"{name} must be at least 1 when given, got {limit}")


@dataclass
class Export:
    """Both artifacts exported at one set of ranks, with the eager models they came from."""

    layers: list[LayerRank]
    truncated: nn.Module
    quantized: dict[str, nn.Module]
    specs: dict[str, dict]
    sizes: dict[str, int]


class _StageTimer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        yield
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - start, 2)


def load_checkpoint_(model: nn.Module, path: Path) -> nn.Module:
    """Load a plainly trained state dict of the same architecture into `model`, in place."""
    if not Path(path).is_file():
        raise ConfigError(f"--init-from {path} does not exist; pass a state dict saved with "
                          f"torch.save(model.state_dict(), PATH)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for a file that is not a checkpoint
        raise ConfigError(f"--init-from {path} is not a PyTorch state dict: {type(error).__name__}: {error}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"--init-from {path} contains a {type(state).__name__}, not a state dict; "
                          f"save it with torch.save(model.state_dict(), PATH)")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"--init-from {path} does not match the model's parameters ({first_line}); "
                          f"pass the --model it was trained as") from error
    logger.info("loaded %d tensors from %s", len(state), path)
    return model


def _package_versions() -> dict[str, str]:
    versions = {}
    for package in ("edgepipe", "torch", "executorch", "litert-torch", "ai-edge-litert"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _weight_count(model: nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def _parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


Finetune = Callable[[nn.Module], object]


def _export_at_budget(collapsed: nn.Module, dataset: Dataset, weight_budget: int, workdir: Path,
                      calibration: torch.Tensor, spectra: dict[str, torch.Tensor],
                      finetune: Finetune | None, policy: str, score: Score | None,
                      formats: tuple[str, ...]) -> Export:
    ranks = select_ranks(policy, collapsed, weight_budget, spectra, score)
    truncated = copy.deepcopy(collapsed)
    layers = truncate_(truncated, ranks)
    if finetune is not None:
        finetune(truncated)
    example = dataset.normalize(dataset.train.images[:1])

    quantized, specs, sizes = {}, {}, {}
    if "pte" in formats:
        with defer_interrupts("the ExecuTorch export"):
            quantized["pte"], _ = quantize(truncated, "xnnpack", example, calibration)
            specs["pte"] = to_executorch(quantized["pte"], example, workdir / "model.pte")
    if "tflite" in formats:
        with defer_interrupts("the LiteRT conversion"):
            quantized["tflite"], quantizer = quantize(truncated, "litert", example, calibration)
            specs["tflite"] = to_tflite(quantized["tflite"], quantizer, example, workdir / "model.tflite")
    for artifact_format in formats:
        sizes[artifact_format] = (workdir / f"model.{artifact_format}").stat().st_size
    return Export(layers, truncated, quantized, specs, sizes)


def fit_budget(collapsed: nn.Module, dataset: Dataset, budget_bytes: int, workdir: Path,
               calibration: torch.Tensor, finetune: Finetune | None = None, policy: str = "greedy",
               formats: tuple[str, ...] = FORMATS) -> Export:
    """Truncate, quantize and export until every artifact in `workdir` is within `budget_bytes` on disk.

    `policy` chooses the ranks (see rank_policy). The `search` policy scores its candidates on the
    data set's validation split. `finetune`, when given, trains each truncated model in place at its
    ranks before quantization.

    The first attempt assumes a fixed format overhead. An attempt over budget lowers the weight budget
    by its overshoot plus 0.5% of the budget, so an artifact over budget is never final. A first
    attempt that leaves more than 1% of the budget unused is followed by one that gives the weights
    the rest, and the larger export that fits is kept.
    """
    spectra = singular_values(collapsed)
    score = functools.partial(accuracy, dataset=dataset, split=dataset.validation) if policy == "search" else None
    margin = math.ceil(0.005 * budget_bytes)
    # A small budget cannot spare the fixed guess, so the first attempt keeps at least 3/4 for weights.
    weight_budget = budget_bytes - min(INITIAL_FORMAT_OVERHEAD, budget_bytes // 4)
    best: tuple[Export, Path] | None = None
    attempts = []
    try:
        for attempt in range(1, MAX_EXPORT_ATTEMPTS + 1):
            if weight_budget <= 0:
                break
            directory = workdir / f".attempt-{attempt}"
            directory.mkdir()
            attempts.append(directory)
            result = _export_at_budget(collapsed, dataset, weight_budget, directory, calibration, spectra,
                                       finetune, policy, score, formats)
            largest = max(result.sizes.values())
            logger.info("export attempt %d: weight budget %d, sizes %s, budget %d",
                        attempt, weight_budget, result.sizes, budget_bytes)
            if largest > budget_bytes:
                if best is not None:
                    break  # growing overshot, so the earlier export is kept
                weight_budget -= largest - budget_bytes + margin
                continue
            if best is None or largest > max(best[0].sizes.values()):
                best = (result, directory)
            slack = budget_bytes - largest
            if attempt > 1 or slack <= 2 * margin:
                break
            weight_budget += slack - margin
        if best is None:
            raise BudgetError(f"could not fit the artifacts into {budget_bytes} bytes after {len(attempts)} "
                              f"attempts; raise --budget or pick a smaller --model")
        export, directory = best
        for artifact_format in formats:
            (directory / f"model.{artifact_format}").replace(workdir / f"model.{artifact_format}")
        return export
    finally:
        for directory in attempts:
            shutil.rmtree(directory, ignore_errors=True)


def _artifact_accuracy(directory: Path, artifact_format: str, manifest: dict, test: Split,
                       progress: Progress) -> float:
    logits = run_artifact(directory, artifact_format, test.images.numpy(), manifest, progress=progress)
    return float((logits.argmax(1) == test.labels.numpy()).mean())


def _manifest(dataset: Dataset, export: Export, directory: Path) -> dict:
    artifacts = {}
    for artifact_format in FORMATS:
        path = directory / f"model.{artifact_format}"
        artifacts[artifact_format] = {"file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size,
                                      **export.specs[artifact_format]}
    return {
        "labels": dataset.labels,
        "normalization": {"mean": [dataset.mean], "std": [dataset.std]},
        "artifacts": artifacts,
        "versions": _package_versions(),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class RunResult:
    """The report written to report.json, and the export it describes."""

    report: dict
    export: Export


def run(config: RunConfig, out: Path, progress: Progress = silent) -> RunResult:
    """Run the main job and write model.pte, model.tflite, manifest.json and report.json to `out`.

    Nothing is written to `out` unless every stage succeeds and both artifacts are within the budget.
    """
    target: Target = load_target(config.target)
    output = prepare_output(out)
    try:
        result = _run_in(config, target, output.workdir, progress)
        output.publish()
        return result
    except BaseException:
        output.discard()
        raise


def _emulate_all(config: RunConfig, dataset: Dataset, target: Target, workdir: Path) -> list[dict]:
    sample = dataset.test.head(config.samples)
    if len(sample) < config.samples:
        logger.warning("--samples %d is more than the %d test images; emulating all of them",
                       config.samples, len(sample))
    return [emulate_or_explain(workdir, artifact_format, target, sample.images.numpy(), sample.labels.numpy(),
                               config.engine).to_dict()
            for artifact_format in FORMATS]


def _check_budget(config: RunConfig, model: nn.Module) -> None:
    smallest = minimum_bytes(model) + min(INITIAL_FORMAT_OVERHEAD, config.budget_bytes // 4)
    if config.budget_bytes < smallest:
        raise BudgetError(f"budget {config.budget_bytes} bytes is below the {smallest} bytes that model "
                          f"{config.model!r} needs even at rank 1 in every layer; raise --budget or "
                          f"pick a smaller --model")


def _run_in(config: RunConfig, target: Target, workdir: Path, progress: Progress) -> RunResult:
    timer = _StageTimer()
    torch.manual_seed(config.train.seed)

    with timer("load"):
        dataset = load_dataset(config.data, seed=config.train.seed)
        train_split = dataset.train.head(config.train_limit)
        test = dataset.test.head(config.eval_limit)
        image_shape = tuple(dataset.train.images.shape[1:])
        model = create_model(config.model, image_shape, len(dataset.labels))
        uncompressed_int8_bytes = _weight_count(model)
        _check_budget(config, model)

    with timer("train"):
        example = dataset.normalize(train_split.images[:2])
        if config.init_from is not None:
            # Identity factors keep the checkpoint's function exactly; LoRITa training goes on from there.
            load_checkpoint_(model, config.init_from)
        init = "identity" if config.init_from is not None else "orthogonal"
        factorize_(model, config.factors, config.train.batch_size, example, init=init)
        train_(model, dataset, config.train, train_split, progress)
    with timer("evaluate"):
        factored_accuracy = accuracy(model, dataset, test, progress=progress)
        factored_bytes = _parameter_bytes(model)

    with timer("truncate"):
        collapsed = fold_batchnorm_(collapse_(model))
    finetune = None
    if config.finetune_epochs:
        # Fine-tuning starts from trained weights, so it runs at a tenth of the training peak learning rate.
        finetune_config = replace(config.train, epochs=config.finetune_epochs, lr=config.train.lr / 10)
        finetune = functools.partial(train_, dataset=dataset, config=finetune_config, train=train_split,
                                     progress=progress)
    with timer("export"):
        calibration = dataset.normalize(dataset.train.images[:config.calibration_size])
        export = fit_budget(collapsed, dataset, config.budget_bytes, workdir, calibration, finetune,
                            config.rank_policy)
    manifest = _manifest(dataset, export, workdir)
    (workdir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    with timer("evaluate"):
        truncated_accuracy = accuracy(export.truncated, dataset, test, progress=progress)
        artifacts = []
        for artifact_format in FORMATS:
            artifact_accuracy = _artifact_accuracy(workdir, artifact_format, manifest, test, progress)
            artifacts.append({"format": artifact_format, "file": f"model.{artifact_format}",
                              "bytes": export.sizes[artifact_format], "accuracy": artifact_accuracy})

    emulation = []
    if config.emulate:
        with timer("emulate"):
            emulation = _emulate_all(config, dataset, target, workdir)

    report = {
        "target": target.name,
        "target_profile": asdict(target),
        "budget_bytes": config.budget_bytes,
        "model": config.model,
        "factors": config.factors,
        "epochs": config.train.epochs,
        "seed": config.train.seed,
        "init_from": str(config.init_from) if config.init_from is not None else None,
        "finetune_epochs": config.finetune_epochs,
        "rank_policy": config.rank_policy,
        "train_images": len(train_split),
        "test_images": len(test),
        "uncompressed_int8_bytes": uncompressed_int8_bytes,
        "stages": [
            {"stage": "fp32 factored (eager)", "accuracy": factored_accuracy, "bytes": factored_bytes},
            {"stage": "fp32 truncated (eager)", "accuracy": truncated_accuracy,
             "bytes": _parameter_bytes(export.truncated)},
            *({"stage": f"int8 {a['format']} ({'ExecuTorch' if a['format'] == 'pte' else 'LiteRT'})",
               "accuracy": a["accuracy"], "bytes": a["bytes"]} for a in artifacts),
        ],
        "artifacts": artifacts,
        "layers": [layer.to_dict() for layer in export.layers],
        "emulation": emulation,
        "seconds": timer.seconds,
    }
    (workdir / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("artifacts: %s", ", ".join(f"{a['file']} {a['bytes']} bytes, top-1 {a['accuracy']:.4f}"
                                          for a in artifacts))
    return RunResult(report, export)
