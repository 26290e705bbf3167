"""Compare LoRITa with plain training and with small dense models at equal int8 byte budgets.

For each model and seed it trains plain (N=1) and LoRITa (N=2, N=3) models, truncates each to budgets
that are fractions of the dense model's .pte size, and measures the test accuracy of the exported
.pte artifact in the ExecuTorch runtime. Baselines: plain training plus truncation, with and without
fine-tuning, and a narrower dense model of the same family trained from scratch to fit the budget.
"""

import functools
import logging
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgepipe.errors import ConfigError
from edgepipe.models import create_model
from edgepipe.pipeline.data import Dataset, Split
from edgepipe.pipeline.lorita import collapse_, factorize_
from edgepipe.pipeline.progress import Progress, silent
from edgepipe.pipeline.quantize import fold_batchnorm_, quantize
from edgepipe.pipeline.run import fit_budget
from edgepipe.pipeline.runner import run_artifact
from edgepipe.pipeline.to_executorch import to_executorch
from edgepipe.pipeline.train import TrainConfig, accuracy, train_
from edgepipe.pipeline.truncate import int8_weight_bytes

logger = logging.getLogger(__name__)

BUDGET_FRACTIONS = (0.25, 0.10, 0.05)


@dataclass(frozen=True)
class Record:
    """One artifact measured at one budget, the row format of benchmarks/results/compression.json."""

    model: str
    method: str
    factors: int
    budget_fraction: float | None
    seed: int
    bytes: int
    artifact_accuracy: float
    eager_accuracy: float
    rank_policy: str | None = None
    width: float | None = None


@dataclass(frozen=True)
class CompareConfig:
    """The models, seeds, budget fractions, training recipe and fine-tuning length to compare."""

    models: tuple[str, ...] = ("mlp", "cnn")
    seeds: tuple[int, ...] = (0, 1, 2)
    fractions: tuple[float, ...] = BUDGET_FRACTIONS
    lorita_factors: tuple[int, ...] = (2, 3)
    policies: tuple[str, ...] = ("greedy", "threshold", "search")
    # L2 2e-3 made LoRITa truncation lossless down to 5% on the MLP (docs/benchmarks.md has the study).
    train: TrainConfig = TrainConfig(epochs=20, weight_decay=2e-3)
    model_epochs: dict[str, int] = field(default_factory=dict)
    finetune_epochs: int = 2
    calibration_size: int = 500
    train_limit: int | None = None
    eval_limit: int | None = None

    def __post_init__(self):
        unknown = set(self.model_epochs) - set(self.models)
        if unknown:
            raise ConfigError(f"epochs are given for {sorted(unknown)}, which are not among the compared models "
                              f"{list(self.models)}; name only compared models")
        for name, epochs in self.model_epochs.items():
            if epochs < 1:
                raise ConfigError(f"epochs must be at least 1, got {epochs} for {name}")

    def recipe(self, name: str) -> TrainConfig:
        """Return the training recipe of model `name`: the shared one, with its own epoch count where one is given."""
        return replace(self.train, epochs=self.model_epochs.get(name, self.train.epochs))


def _pte_accuracy(path: Path, specs: dict, dataset: Dataset, test: Split) -> float:
    manifest = {"normalization": {"mean": [dataset.mean], "std": [dataset.std]},
                "artifacts": {"pte": {"file": path.name, **specs}}}
    logits = run_artifact(path.parent, "pte", test.images.numpy(), manifest)
    return float((logits.argmax(1) == test.labels.numpy()).mean())


def _train(name: str, factors: int, dataset: Dataset, config: CompareConfig, seed: int, train: Split,
           width: float = 1.0, progress: Progress = silent) -> nn.Module:
    torch.manual_seed(seed)
    model = create_model(name, tuple(dataset.train.images.shape[1:]), len(dataset.labels), width)
    recipe = config.recipe(name)
    factorize_(model, factors, recipe.batch_size, dataset.normalize(train.images[:2]))
    train_(model, dataset, replace(recipe, seed=seed), train, progress)
    return fold_batchnorm_(collapse_(model)).eval()


def _export_dense(model: nn.Module, dataset: Dataset, calibration: torch.Tensor, workdir: Path) -> tuple[int, dict]:
    example = dataset.normalize(dataset.train.images[:1])
    quantized, _ = quantize(model, "xnnpack", example, calibration)
    specs = to_executorch(quantized, example, workdir / "model.pte")
    return (workdir / "model.pte").stat().st_size, specs


def _small_dense_width(name: str, dataset: Dataset, weight_budget: int) -> float:
    # Bytes grow with width, so bisect for the widest model whose estimated int8 size fits.
    shape, classes = tuple(dataset.train.images.shape[1:]), len(dataset.labels)
    low, high = 0.01, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        if int8_weight_bytes(create_model(name, shape, classes, middle)) <= weight_budget:
            low = middle
        else:
            high = middle
    return low


def compare_model(name: str, seed: int, dataset: Dataset, config: CompareConfig, workdir: Path,
                  progress: Progress = silent) -> list[Record]:
    """Measure every method on model `name` for one seed; return one record per artifact."""
    train = dataset.train.head(config.train_limit)
    test = dataset.test.head(config.eval_limit)
    calibration = dataset.normalize(dataset.train.images[:config.calibration_size])
    records: list[Record] = []

    plain = _train(name, 1, dataset, config, seed, train, progress=progress)
    dense_bytes, specs = _export_dense(plain, dataset, calibration, workdir)
    records.append(Record(name, "dense", 1, 1.0, seed, dense_bytes, _pte_accuracy(workdir / "model.pte", specs,
                                                                                 dataset, test),
                          accuracy(plain, dataset, test)))
    trained = {1: plain} | {n: _train(name, n, dataset, config, seed, train, progress=progress)
                            for n in config.lorita_factors}
    finetune_config = (replace(config.recipe(name), epochs=config.finetune_epochs, lr=config.train.lr / 10, seed=seed)
                       if config.finetune_epochs else None)

    for fraction in config.fractions:
        budget = int(fraction * dense_bytes)
        for factors, model in trained.items():
            method = "plain" if factors == 1 else "lorita"
            # Plain and the deepest LoRITa run every policy, so each policy compares the two on equal terms.
            policies = config.policies if factors in (1, max(trained)) else ("greedy",)
            for policy in policies:
                records.append(_truncated_record(name, method, factors, fraction, seed, model, dataset, test,
                                                 budget, calibration, workdir, policy, None))
            if config.finetune_epochs and (factors == 1 or factors == max(trained)):
                finetune = functools.partial(train_, dataset=dataset, config=finetune_config, train=train,
                                             progress=progress)
                records.append(_truncated_record(name, f"{method}+finetune", factors, fraction, seed, model,
                                                 dataset, test, budget, calibration, workdir, "greedy", finetune))
        records.append(_small_dense_record(name, fraction, seed, dataset, config, train, test, budget, calibration,
                                           workdir, progress))
    return records


def _truncated_record(name, method, factors, fraction, seed, model, dataset, test, budget, calibration, workdir,
                      policy, finetune) -> Record:
    export = fit_budget(model, dataset, budget, workdir, calibration, finetune, policy, formats=("pte",))
    artifact_accuracy = _pte_accuracy(workdir / "model.pte", export.specs["pte"], dataset, test)
    record = Record(name, method, factors, fraction, seed, export.sizes["pte"], artifact_accuracy,
                    accuracy(export.truncated, dataset, test), policy)
    logger.info("%s", record)
    return record


def _small_dense_record(name, fraction, seed, dataset, config, train, test, budget, calibration, workdir,
                        progress) -> Record:
    # The .pte format adds bytes beside the weights, so the first try leaves 10% for them and later
    # tries narrow the model until the file fits.
    width = _small_dense_width(name, dataset, int(0.9 * budget))
    for _ in range(10):
        model = _train(name, 1, dataset, config, seed, train, width, progress)
        size, specs = _export_dense(model, dataset, calibration, workdir)
        if size <= budget:
            break
        width *= 0.95
    record = Record(name, "small-dense", 1, fraction, seed, size, _pte_accuracy(workdir / "model.pte", specs,
                                                                               dataset, test),
                    accuracy(model, dataset, test), width=round(width, 4))
    logger.info("%s", record)
    return record


def compare(dataset: Dataset, config: CompareConfig, progress: Progress = silent) -> list[dict]:
    """Run `compare_model` for every model and seed and return all records as dictionaries."""
    records = []
    # NOTE: a SIGTERM skips this context's cleanup, so a killed run leaves its edgepipe-compare-* folder.
    with tempfile.TemporaryDirectory(prefix="edgepipe-compare-") as workdir:
        for name in config.models:
            for seed in config.seeds:
                records += [asdict(r) for r in compare_model(name, seed, dataset, config, Path(workdir), progress)]
    return records


def summarize(records: list[dict]) -> list[dict]:
    """Group records by model, method, factors, policy and budget fraction; return mean and std of each."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = (record["model"], record["method"], record["factors"], record["rank_policy"], record["budget_fraction"])
        groups.setdefault(key, []).append(record)
    rows = []
    for (model, method, factors, policy, fraction), members in sorted(groups.items(), key=lambda item: str(item[0])):
        accuracies = np.array([m["artifact_accuracy"] for m in members])
        rows.append({"model": model, "method": method, "factors": factors, "rank_policy": policy,
                     "budget_fraction": fraction, "seeds": len(members),
                     "bytes": int(np.mean([m["bytes"] for m in members])),
                     "accuracy_mean": float(accuracies.mean()), "accuracy_std": float(accuracies.std())})
    return rows


METHOD_ORDER = ("dense", "plain", "plain+finetune", "lorita", "lorita+finetune", "small-dense")


def markdown_table(rows: list[dict]) -> str:
    """Format summary rows as a Markdown table, largest budget first and methods in a fixed order per budget."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    policies = (None, "greedy", "threshold", "search")

    def order(row: dict) -> tuple:
        return (models.index(row["model"]), -row["budget_fraction"], METHOD_ORDER.index(row["method"]),
                row["factors"], policies.index(row["rank_policy"]))

    lines = ["| model | budget | method | N | rank policy | bytes | .pte top-1 % (mean ± std) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in sorted(rows, key=order):
        budget = "dense" if row["budget_fraction"] == 1.0 else f"{100 * row['budget_fraction']:.0f}%"
        lines.append(f"| {row['model']} | {budget} | {row['method']} | {row['factors']} | {row['rank_policy'] or '-'} "
                     f"| {row['bytes']:,} | {100 * row['accuracy_mean']:.2f} ± {100 * row['accuracy_std']:.2f} |")
    return "\n".join(lines)
