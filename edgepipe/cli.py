"""The `edgepipe` command: a thin typer layer over `edgepipe.pipeline`."""

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgepipe.errors import EdgepipeError

app = typer.Typer(
    help="Make a PyTorch model small and fast enough for a named device, then prove it: LoRITa training, "
         "SVD truncation to a byte budget, int8 quantization, export to ExecuTorch and LiteRT, and "
         "accuracy checks in each runtime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    package_logger = logging.getLogger("edgepipe")
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    package_logger.propagate = False

    # Other libraries' logs reach the terminal at WARNING with --verbose and not at all without it.
    root = logging.getLogger()
    root.handlers[:] = [handler if verbose else logging.NullHandler()]
    root.setLevel(logging.WARNING)
    if not verbose:
        # The converters' progress lines, C++ INFO logs and deprecation warnings drown ours.
        logging.getLogger("torch").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _progress(iterable, *, desc: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, file=sys.stderr, dynamic_ncols=True)


def _fail(error: BaseException, verbose: bool) -> None:
    if verbose:
        raise error
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code=1)


def _print_table(report: dict) -> None:
    rows = [(s["stage"], f"{100 * s['accuracy']:.2f}%", f"{s['bytes']:,}") for s in report["stages"]]
    header = ("stage", "top-1", "bytes")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = [f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}"]
    lines += [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    typer.echo("\n".join(lines))


@app.command()
def run(
    target: Annotated[str, typer.Option(help="Target device profile from targets/, such as rpi4.")] = "rpi4",
    budget: Annotated[str, typer.Option(
        help="Maximum size of each artifact on disk: 2MB (10^6 bytes), 2MiB (2^20 bytes), 500kB, 1.5M "
             "or plain bytes.")] = "2MB",
    out: Annotated[Optional[Path], typer.Option(
        help="Directory for model.pte, model.tflite, manifest.json and report.json "
             "[default: artifacts/TARGET-BUDGET/].")] = None,
    model: Annotated[str, typer.Option(help="Model from the registry: mlp, mlp-small or cnn.")] = "mlp",
    data: Annotated[str, typer.Option(
        help="`fashion-mnist` (the Debian package dataset-fashion-mnist) or a directory of IDX files, "
             "such as MNIST.")] = "fashion-mnist",
    epochs: Annotated[int, typer.Option(help="Training epochs.", min=1)] = 12,
    factors: Annotated[int, typer.Option(
        help="LoRITa factors per weight; 1 trains plainly.", min=1)] = 3,
    seed: Annotated[int, typer.Option(help="Seed for initialization, data order and the validation split.")] = 0,
    lr: Annotated[float, typer.Option(help="Peak learning rate of SGD with momentum 0.9.")] = 0.05,
    weight_decay: Annotated[float, typer.Option(
        help="L2 weight decay on every factor; it is what drives the product to low rank.")] = 5e-4,
    batch_size: Annotated[int, typer.Option(help="Training batch size.", min=1)] = 256,
    calibration_size: Annotated[int, typer.Option(
        help="Training images used to calibrate int8 activation ranges.", min=1)] = 500,
    train_limit: Annotated[Optional[int], typer.Option(
        help="Train on only the first N training images, for quick trials.", min=1)] = None,
    eval_limit: Annotated[Optional[int], typer.Option(
        help="Evaluate on only the first N test images, for quick trials [default: all 10,000].",
        min=1)] = None,
    emulate: Annotated[bool, typer.Option(
        help="Also run each artifact on the aarch64 build of its runtime under emulation and compare it "
             "with the host run.")] = True,
    engine: Annotated[str, typer.Option(
        help="Emulation engine: qemu, docker, or auto (docker when a Docker engine responds, else qemu).")] = "auto",
    samples: Annotated[int, typer.Option(help="Test images for the emulation check.", min=1)] = 1000,
    init_from: Annotated[Optional[Path], typer.Option(
        help="Start from a plainly trained state dict of --model (torch.save(model.state_dict(), PATH)); "
             "the factors start as identities, so training continues from the same function.")] = None,
    rank_policy: Annotated[str, typer.Option(
        help="How ranks share the budget: greedy (most spectral energy per byte), threshold (one global "
             "cut on normalized singular values) or search (candidates scored on the validation split).")
    ] = "greedy",
    finetune_epochs: Annotated[int, typer.Option(
        help="Epochs of plain training after truncation, at the truncated ranks and a tenth of --lr.",
        min=0)] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log DEBUG lines and show tracebacks.")] = False,
) -> None:
    """Train with LoRITa, truncate to the budget, quantize to int8, export .pte and .tflite, and evaluate."""
    _setup_logging(verbose)
    try:
        from edgepipe.pipeline.budget import parse_budget
        from edgepipe.pipeline.run import RunConfig, run as run_pipeline
        from edgepipe.pipeline.train import TrainConfig

        budget_bytes = parse_budget(budget)
        out = out if out is not None else Path("artifacts") / f"{target}-{budget.strip().replace(' ', '')}"
        config = RunConfig(
            target=target, budget_bytes=budget_bytes, model=model, data=data, factors=factors,
            train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed),
            calibration_size=calibration_size, train_limit=train_limit, eval_limit=eval_limit,
            emulate=emulate, engine=engine, samples=samples, init_from=init_from,
            finetune_epochs=finetune_epochs, rank_policy=rank_policy)
        report = run_pipeline(config, out, progress=_progress).report
    except EdgepipeError as error:
        _fail(error, verbose)
    except KeyboardInterrupt:
        typer.echo("error: interrupted; nothing was written", err=True)
        raise typer.Exit(code=130)

    _print_table(report)
    if report["emulation"]:
        _print_emulation(report["emulation"])
    typer.echo(f"wrote {out}/: model.pte, model.tflite, manifest.json, report.json")


def _print_emulation(records: list[dict]) -> None:
    for record in records:
        where = f"{record['format']} on {record['target']} ({record['engine']})"
        if record["ran"]:
            typer.echo(f"emulated {where}: top-1 agreement with host {100 * record['top1_agreement']:.2f}%, "
                       f"max |diff| {record['max_abs_diff']:.3g}, accuracy {100 * record['accuracy']:.2f}% "
                       f"on {record['samples']} images")
        else:
            typer.echo(f"emulation check of {where} did not run: {record['reason']}")


@app.command("emulate")
def emulate_command(
    artifact: Annotated[Path, typer.Argument(
        help="An artifact directory with manifest.json, or one model.pte or model.tflite in it.")],
    target: Annotated[str, typer.Option(help="Target device profile whose CPU to emulate.")] = "rpi4",
    samples: Annotated[int, typer.Option(help="Test images to run.", min=1)] = 1000,
    engine: Annotated[str, typer.Option(
        help="qemu, docker, or auto (docker when a Docker engine responds, else qemu).")] = "auto",
    data: Annotated[str, typer.Option(
        help="`fashion-mnist` or a directory of IDX files; the test split supplies the images.")] = "fashion-mnist",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log DEBUG lines and show tracebacks.")] = False,
) -> None:
    """Run an artifact on the aarch64 build of its runtime and compare it with the host run.

    The records are added to the directory's report.json under "emulation". Emulated timings are not
    device timings, so none are reported.
    """
    _setup_logging(verbose)
    try:
        from edgepipe.pipeline.emulate_artifact import emulate_artifact

        records = emulate_artifact(artifact, target, samples, engine, data)
    except EdgepipeError as error:
        _fail(error, verbose)
    except KeyboardInterrupt:
        typer.echo("error: interrupted; report.json was not changed", err=True)
        raise typer.Exit(code=130)
    _print_emulation([record.to_dict() for record in records])


bench = typer.Typer(help="Benchmarks whose numbers go into docs/.", no_args_is_help=True)
app.add_typer(bench, name="bench")


@bench.command("compression")
def bench_compression(
    out: Annotated[Path, typer.Option(help="JSON file for the raw records.")] = Path(
        "benchmarks/results/compression.json"),
    models: Annotated[str, typer.Option(help="Comma-separated registry models.")] = "mlp,cnn",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    fractions: Annotated[str, typer.Option(
        help="Comma-separated budgets as fractions of the dense model's .pte size.")] = "0.25,0.10,0.05",
    epochs: Annotated[str, typer.Option(
        help="Training epochs: one number for every model, or per model as in mlp=20,cnn=6.")] = "20",
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay of every training run.", min=0)] = 2e-3,
    finetune_epochs: Annotated[int, typer.Option(help="Fine-tuning epochs after truncation.", min=0)] = 2,
    data: Annotated[str, typer.Option(help="`fashion-mnist` or a directory of IDX files.")] = "fashion-mnist",
    train_limit: Annotated[Optional[int], typer.Option(help="Train on the first N images only.", min=1)] = None,
    eval_limit: Annotated[Optional[int], typer.Option(help="Evaluate on the first N images only.", min=1)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log DEBUG lines and show tracebacks.")] = False,
) -> None:
    """Compare LoRITa, plain training and small dense models at equal int8 budgets, on the .pte artifacts."""
    _setup_logging(verbose)
    try:
        from edgepipe.pipeline.compare import CompareConfig, compare, markdown_table, summarize
        from edgepipe.pipeline.plot import accuracy_svg
        from edgepipe.pipeline.data import load_dataset
        from edgepipe.pipeline.train import TrainConfig

        shared_epochs, model_epochs = _parse_epochs(epochs)
        config = CompareConfig(
            models=tuple(_split(models, str)), seeds=tuple(_split(seeds, int)),
            fractions=tuple(_split(fractions, float)),
            train=TrainConfig(epochs=shared_epochs, weight_decay=weight_decay),
            model_epochs=model_epochs, finetune_epochs=finetune_epochs, train_limit=train_limit,
            eval_limit=eval_limit)
        records = compare(load_dataset(data), config, progress=_progress)
    except EdgepipeError as error:
        _fail(error, verbose)

    rows = summarize(records)
    plot = out.with_suffix(".svg") if out.suffix != ".svg" else out.with_name(f"{out.name}.svg")
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((out, json.dumps(records, indent=1) + "\n"), (plot, accuracy_svg(rows))):
        temporary = path.with_name(f".{path.name}.partial")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    typer.echo(markdown_table(rows))
    typer.echo(f"wrote {out} and {plot}")


def _parse_epochs(text: str) -> tuple[int, dict[str, int]]:
    """Read `--epochs`: "20" for every model, or "mlp=20,cnn=6" per model, with 20 for models not named."""
    try:
        if "=" not in text:
            return int(text), {}
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        return 20, {name.strip(): int(count) for name, count in pairs}
    except ValueError as error:
        raise typer.BadParameter(f"--epochs {text!r} is neither a number nor a list like mlp=20,cnn=6") from error


def _split(text: str, kind):
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of {kind.__name__}") from error


@app.command("targets")
def targets_command() -> None:
    """List the bundled target device profiles."""
    from edgepipe.targets import list_targets, load_target

    for name in list_targets():
        profile = load_target(name)
        typer.echo(f"{name}: {profile.description}, {profile.cores}x {profile.cpu}, {profile.ram_bytes:,} bytes RAM")


@app.command("models")
def models_command() -> None:
    """List the registered models."""
    from edgepipe.models import list_models

    for name, description in list_models().items():
        typer.echo(f"{name}: {description}")


def _print_version(value: bool) -> None:
    if value:
        from edgepipe import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", help="Print the edgepipe version and exit.", is_eager=True, callback=_print_version)] = False,
) -> None:
    """edgepipe: ship a PyTorch model to a Raspberry Pi, a phone or a board."""


def main() -> None:
    """Run the CLI; a malformed command line gets one `error:` line and exit code 2, as in click."""
    from typer.exceptions import TyperException

    try:
        code = app(standalone_mode=False)
    except TyperException as error:  # typer 0.29's vendored click usage errors derive from it
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "edgepipe"
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        if message:  # empty when no arguments were given and the help text was printed instead
            typer.echo(f"error: {message} (see `{command} --help`)", err=True)
        sys.exit(getattr(error, "exit_code", 2))
    except typer.Abort:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
