import pytest
import torch

from edgepipe.errors import ConfigError, EdgepipeError
from edgepipe.models import create_model
from edgepipe.pipeline.lorita import collapse_, factorize_
from edgepipe.pipeline.run import RunConfig, load_checkpoint_


def test_load_checkpoint_then_identity_factors_keep_outputs(tmp_path):
    torch.manual_seed(0)
    trained = create_model("mlp-small").eval()
    path = tmp_path / "plain.pt"
    torch.save(trained.state_dict(), path)
    x = torch.randn(3, 1, 28, 28)

    model = load_checkpoint_(create_model("mlp-small"), path).eval()
    factorize_(model, 3, 256, x, init="identity")
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained(x), rtol=0, atol=1e-6)
        torch.testing.assert_close(collapse_(model)(x), trained(x), rtol=0, atol=1e-6)


def test_load_checkpoint_wrapped_state_dict(tmp_path):
    trained = create_model("mlp-small")
    torch.save({"state_dict": trained.state_dict(), "epoch": 3}, tmp_path / "wrapped.pt")
    model = load_checkpoint_(create_model("mlp-small"), tmp_path / "wrapped.pt")
    assert torch.equal(model.layers[1].weight, trained.layers[1].weight)


def test_load_checkpoint_wrong_model_raises(tmp_path):
    torch.save(create_model("mlp-small").state_dict(), tmp_path / "small.pt")
    with pytest.raises(ConfigError, match="does not match the model's parameters.*--model"):
        load_checkpoint_(create_model("mlp"), tmp_path / "small.pt")


def test_load_checkpoint_missing_file_raises(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint_(create_model("mlp-small"), tmp_path / "absent.pt")


def test_load_checkpoint_not_a_checkpoint_raises(tmp_path):
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="is not a PyTorch state dict"):
        load_checkpoint_(create_model("mlp-small"), tmp_path / "notes.pt")


@pytest.mark.parametrize("field, value, message", [
    ("target", "pi5", "unknown target 'pi5'"),
    ("model", "resnet", "unknown model 'resnet'"),
    ("engine", "vm", "unknown engine 'vm'"),
    ("samples", 0, "samples must be at least 1, got 0"),
    ("budget_bytes", 0, "budget_bytes must be positive, got 0"),
    ("train_limit", 0, "train_limit must be at least 1 when given, got 0"),
])
def test_run_config_invalid_field_raises(field, value, message):
    with pytest.raises(EdgepipeError, match=message):
        RunConfig(**{field: value})


def test_fit_budget_finetunes_truncated_model(tiny_idx_dir, tmp_path):
    from torch import nn

    from edgepipe.pipeline.data import load_dataset
    from edgepipe.pipeline.run import fit_budget

    torch.manual_seed(0)
    dataset = load_dataset(str(tiny_idx_dir), validation_size=100)
    collapsed = create_model("mlp-small").eval()
    calls = []

    def finetune(model):
        calls.append([name for name, m in model.named_modules() if isinstance(m, nn.Sequential) and len(m) == 2])
        with torch.no_grad():
            model.layers[-1].bias.fill_(0.5)  # a visible change that must reach the export

    workdir = tmp_path / "work"
    workdir.mkdir()
    export = fit_budget(collapsed, dataset, 500_000, workdir, dataset.normalize(dataset.train.images[:8]), finetune)
    assert 1 <= len(calls) <= 2  # one export, and one more if the first left over 1% of the budget
    assert all(calls)  # at least one layer was split before each fine-tuning
    assert torch.all(export.truncated.layers[-1].bias == 0.5)
    assert max(export.sizes.values()) <= 500_000
    assert max(export.sizes.values()) >= 0.98 * 500_000
    assert sorted(p.name for p in workdir.iterdir()) == ["model.pte", "model.tflite"]
    for artifact_format, size in export.sizes.items():
        assert (workdir / f"model.{artifact_format}").stat().st_size == size


def test_train_diverging_raises(tiny_idx_dir):
    from edgepipe.errors import TrainingError
    from edgepipe.pipeline.data import load_dataset
    from edgepipe.pipeline.train import TrainConfig, train_

    dataset = load_dataset(str(tiny_idx_dir), validation_size=100)
    with pytest.raises(TrainingError, match="lower --lr"):
        train_(create_model("mlp-small"), dataset, TrainConfig(epochs=1, lr=1e9, batch_size=50))


def test_fit_budget_small_budget_fits(tiny_idx_dir, tmp_path):
    from edgepipe.pipeline.data import load_dataset
    from edgepipe.pipeline.run import fit_budget

    torch.manual_seed(0)
    dataset = load_dataset(str(tiny_idx_dir), validation_size=100)
    workdir = tmp_path / "work"
    workdir.mkdir()
    # 5% of mlp-small's dense .pte: smaller than the fixed guess of the format overhead.
    calibration = dataset.normalize(dataset.train.images[:8])
    export = fit_budget(create_model("mlp-small").eval(), dataset, 47_810, workdir, calibration, formats=("pte",))
    assert 0.9 * 47_810 <= export.sizes["pte"] <= 47_810
