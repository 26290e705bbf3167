import pytest

from edgepipe.pipeline.compare import METHOD_ORDER, CompareConfig, compare, markdown_table, summarize
from edgepipe.pipeline.data import load_dataset
from edgepipe.pipeline.train import TrainConfig

METHODS = {"dense", "plain", "lorita", "plain+finetune", "lorita+finetune", "small-dense"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    from conftest import write_idx
    import numpy as np

    directory = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 700), ("t10k", 100)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10)
    dataset = load_dataset(str(directory), validation_size=200)
    config = CompareConfig(models=("mlp-small",), seeds=(0,), fractions=(0.25,),
                           train=TrainConfig(epochs=1, batch_size=100), finetune_epochs=1, calibration_size=16)
    return compare(dataset, config)


def test_compare_records_every_method(records):
    assert {r["method"] for r in records} == METHODS
    lorita = {(r["factors"], r["rank_policy"]) for r in records if r["method"] == "lorita"}
    assert lorita == {(2, "greedy"), (3, "greedy"), (3, "threshold"), (3, "search")}
    plain = {r["rank_policy"] for r in records if r["method"] == "plain"}
    assert plain == {"greedy", "threshold", "search"}


def test_compare_artifacts_within_budget(records):
    dense = next(r for r in records if r["method"] == "dense")
    for record in records:
        assert set(record) >= {"model", "method", "factors", "budget_fraction", "seed", "bytes", "artifact_accuracy"}
        assert 0 <= record["artifact_accuracy"] <= 1
        if record["method"] != "dense":
            assert record["budget_fraction"] == 0.25
            assert record["bytes"] <= 0.25 * dense["bytes"]


def test_summarize_groups_seeds(records):
    doubled = records + [dict(r, seed=1, artifact_accuracy=r["artifact_accuracy"] / 2) for r in records]
    rows = summarize(doubled)
    assert len(rows) == len(records)
    for row in rows:
        assert row["seeds"] == 2
        assert row["accuracy_std"] == pytest.approx(row["accuracy_mean"] / 3)


def test_markdown_table_orders_budgets_and_methods(records):
    lines = markdown_table(summarize(records)).splitlines()
    assert len(lines) == 2 + len(records)
    assert lines[2].startswith("| mlp-small | dense | dense |")
    methods = [line.split(" | ")[2] for line in lines[3:]]
    assert methods == sorted(methods, key=METHOD_ORDER.index)
