"""Check artifacts on the aarch64 builds of their runtimes when no device is present.

Two engines run the same self-contained runner (runner.py) over the same pinned runtimes
(device-requirements.txt):

- `qemu`: qemu-user over a cached aarch64 sysroot of Debian's arm64 Python, the runtime wheels and a
  native .pte runner cross-compiled against the executorch wheel. It needs no Docker.
- `docker`: an arm64 image built from the repository's Dockerfile, for hosts with a Docker engine and
  binfmt.

Emulation checks correctness only. Emulated timings are unrelated to a device's speed, so none are
reported.
"""

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgepipe.errors import ConfigError, EdgepipeError
from edgepipe.pipeline import runner
from edgepipe.targets import Target

logger = logging.getLogger(__name__)

PINS_FILE = Path(__file__).with_name("device-requirements.txt")
NATIVE_RUNNER_SOURCE = Path(__file__).parent / "native" / "pte_runner.cpp"
NATIVE_RUNNER_BUILD = Path(__file__).parent / "native" / "build-pte-runner.sh"
ENGINES = ("auto", "qemu", "docker")
DOCKER_IMAGE = "edgepipe-runner"

# Debian arm64 packages that make a working python3.11 with its standard library.
DEBIAN_PACKAGES = (
    "libc6", "libgcc-s1", "libstdc++6", "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib",
    "zlib1g", "libexpat1", "libffi8", "libssl3", "libbz2-1.0", "liblzma5", "libsqlite3-0", "libncursesw6",
    "libtinfo6", "libreadline8", "libuuid1", "libdb5.3", "libgdbm6", "libnsl2", "libtirpc3", "libcrypt1",
)
WHEEL_PLATFORMS = ("manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64")

# MIDR_EL1 part numbers of ARM cores, as Linux prints them in the "CPU part" line of /proc/cpuinfo.
CPU_PARTS = {"cortex-a53": "0xd03", "cortex-a55": "0xd05", "cortex-a72": "0xd08", "cortex-a76": "0xd0b",
             "neoverse-n1": "0xd0c"}


class EmulationError(EdgepipeError):
    """An emulation engine is missing, not permitted or failed; the host results stay valid."""


@dataclass(frozen=True)
class EmulationRecord:
    """One artifact checked on one target's CPU under one engine, against the host run of the same file."""

    format: str
    target: str
    engine: str
    samples: int
    top1_agreement: float | None
    max_abs_diff: float | None
    accuracy: float | None
    runtime: str | None = None
    ran: bool = True
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def read_pins(path: Path | None = None) -> list[str]:
    """Return the requirement lines of the device runtime pins (default: PINS_FILE), without comments."""
    text = (PINS_FILE if path is None else path).read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def cache_root() -> Path:
    """Return edgepipe's cache directory: $XDG_CACHE_HOME/edgepipe, or ~/.cache/edgepipe."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgepipe"


def sysroot_key() -> str:
    """Hash everything that goes into the sysroot, so a change of pins or runner source rebuilds it."""
    digest = hashlib.sha256()
    sources = (NATIVE_RUNNER_SOURCE.read_text(), NATIVE_RUNNER_BUILD.read_text())
    for part in (*read_pins(), *DEBIAN_PACKAGES, *sources):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def cpuinfo_text(cpu: str, cores: int) -> str:
    """Return /proc/cpuinfo as an aarch64 Linux kernel prints it for `cores` cores of `cpu`."""
    if cpu not in CPU_PARTS:
        raise ConfigError(f"no MIDR part number known for CPU {cpu!r}; known CPUs: {', '.join(CPU_PARTS)}")
    blocks = [
        f"processor\t: {index}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {CPU_PARTS[cpu]}\n"
        f"CPU revision\t: 3\n"
        for index in range(cores)
    ]
    return "\n".join(blocks) + "\n"


def _require_tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EmulationError(f"{name} not found; install it with `apt-get install {install}` (as root), "
                             f"or use --engine docker")
    return path


def _check(command: list[str], step: str, cwd: Path | None = None, fix: str = "use --engine docker") -> None:
    try:
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except OSError as error:
        raise EmulationError(f"{step} failed ({command[0]}: {error.strerror or error}); {fix}") from error
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()
        raise EmulationError(f"{step} failed ({detail[-1] if detail else 'no output'}); {fix}")


def _download_debian_packages(destination: Path) -> None:
    architectures = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True)
    if "arm64" not in architectures.stdout.split():
        raise EmulationError("Debian's arm64 packages are not enabled; run `dpkg --add-architecture arm64 && "
                             "apt-get update` as root, or use --engine docker")
    debs = destination / "debs"
    debs.mkdir()
    _check(["apt-get", "download", *(f"{name}:arm64" for name in DEBIAN_PACKAGES), "media-types"],
           "downloading the arm64 Debian packages", cwd=debs,
           fix="check that Debian's package mirror is reachable and run `apt-get update`, or use --engine docker")
    for deb in sorted(debs.glob("*.deb")):
        _check(["dpkg", "-x", str(deb), str(destination / "root")], f"unpacking {deb.name}")
    shutil.rmtree(debs)


def _install_wheels(root: Path) -> None:
    platforms = [argument for platform in WHEEL_PLATFORMS for argument in ("--platform", platform)]
    _check([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.11", *platforms, "--target", str(root / "site"), *read_pins()],
           "downloading the aarch64 wheels",
           fix=f"check that PyPI is reachable and that the pins in {PINS_FILE} exist, or use --engine docker")


def native_runner_build_command(compiler: str, executorch_dir: Path, output: Path, rpath: str) -> list[str]:
    """Return the command that builds the native .pte runner against an executorch wheel's files."""
    return ["sh", str(NATIVE_RUNNER_BUILD), compiler, str(executorch_dir), str(output), rpath]


def build_sysroot(cache: Path | None = None) -> Path:
    """Return the cached aarch64 sysroot for the qemu engine, building it first if it is missing."""
    cache = cache_root() if cache is None else cache
    sysroot = cache / f"sysroot-aarch64-{sysroot_key()}"
    if (sysroot / "bin" / "edgepipe-pte-runner").is_file():
        return sysroot

    compiler = _require_tool("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu")
    _require_tool("apt-get", "apt")
    cache.mkdir(parents=True, exist_ok=True)
    logger.info("building the aarch64 sysroot in %s (once per version of the pins)", sysroot)
    with tempfile.TemporaryDirectory(prefix=".sysroot-", dir=cache) as scratch:
        scratch = Path(scratch)
        _download_debian_packages(scratch)
        root = scratch / "root"
        _install_wheels(root)
        (root / "bin").mkdir(exist_ok=True)
        _check(native_runner_build_command(compiler, root / "site" / "executorch", root / "bin" / "edgepipe-pte-runner",
                                           "$ORIGIN/../site/executorch/lib"),
               "cross-compiling the native .pte runner")
        try:
            root.rename(sysroot)
        except OSError:
            # Another process finished the same sysroot first; its copy is as good as this one.
            if not (sysroot / "bin" / "edgepipe-pte-runner").is_file():
                raise
    _remove_other_sysroots(cache, sysroot)
    return sysroot


def _remove_other_sysroots(cache: Path, keep: Path) -> None:
    # Each is about 300 MB, and one built for other pins is never used again by this version.
    for old in cache.glob("sysroot-aarch64-*"):
        if old != keep:
            logger.info("removing %s, built for other runtime pins", old)
            shutil.rmtree(old, ignore_errors=True)


def _unshare_prefix() -> list[str]:
    # A private mount namespace lets the runner see an ARM /proc/cpuinfo without touching the host's.
    if os.geteuid() == 0:
        return ["unshare", "--mount"]
    # NOTE: never tried here; it needs unprivileged user namespaces and a bind mount over /proc in them.
    return ["unshare", "--user", "--map-root-user", "--mount"]


def qemu_command(sysroot: Path, cpu: str, cpuinfo: Path, arguments: list[str]) -> list[str]:
    """Return the command that runs the runner with `arguments` on `cpu` under qemu-user.

    qemu-user 7.2 passes the host's x86 /proc/cpuinfo through, and the aarch64 LiteRT interpreter
    crashes parsing it, so an ARM-format file is bind-mounted over it first.
    """
    emulator = ["qemu-aarch64-static", "-cpu", cpu, "-L", str(sysroot)]
    script = 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"'
    return [*_unshare_prefix(), "--", "sh", "-c", script, "sh", str(cpuinfo),
            *emulator, str(sysroot / "usr" / "bin" / "python3.11"), "-s", *arguments]


def qemu_environment(sysroot: Path, cpu: str) -> dict[str, str]:
    """Return the environment for `qemu_command`: the sysroot's packages and the native .pte runner."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment.update({
        "PYTHONPATH": str(sysroot / "site"),
        "PYTHONNOUSERSITE": "1",
        runner.NATIVE_RUNNER_ENV: str(sysroot / "bin" / "edgepipe-pte-runner"),
        runner.NATIVE_PREFIX_ENV: f"qemu-aarch64-static -cpu {cpu} -L {sysroot}",
    })
    return environment


def docker_image_tag() -> str:
    """Return the tag of the runner image, named after the pins so that a change of pins rebuilds it."""
    return f"{DOCKER_IMAGE}:{sysroot_key()}"


def docker_build_command(context: Path) -> list[str]:
    """Return the command that builds the arm64 runner image from the repository's Dockerfile."""
    return ["docker", "build", "--platform", "linux/arm64", "--tag", docker_image_tag(),
            "--file", str(context / "Dockerfile"), str(context)]


def docker_run_command(artifact_dir: Path, io_dir: Path, cpuinfo: Path, artifact_format: str) -> list[str]:
    """Return the command that runs the runner in the arm64 image, without network access."""
    return [
        "docker", "run", "--rm", "--platform", "linux/arm64", "--network", "none",
        "--volume", f"{artifact_dir.resolve()}:/artifact:ro",
        "--volume", f"{io_dir.resolve()}:/io",
        "--volume", f"{cpuinfo.resolve()}:/proc/cpuinfo:ro",
        docker_image_tag(),
        "python3", "/opt/edgepipe/runner.py", "/artifact", artifact_format, "/io/images.npy", "/io/result.json",
    ]


def docker_available() -> bool:
    """Return whether a Docker engine responds to `docker info`; the client alone is not enough."""
    if shutil.which("docker") is None:
        return False
    try:
        completed = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                                   capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return completed.returncode == 0


def docker_context() -> Path | None:
    """Return the source checkout whose Dockerfile builds the runner image, or None for an installed copy."""
    context = Path(__file__).resolve().parent.parent
    return context if (context / "Dockerfile").is_file() else None


def choose_engine(engine: str) -> str:
    """Resolve `auto` to docker when a Docker engine responds and the Dockerfile is at hand, else to qemu."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "auto":
        return "docker" if docker_context() is not None and docker_available() else "qemu"
    return engine


def _run_qemu(target: Target, artifact_dir: Path, artifact_format: str, io_dir: Path) -> None:
    _require_tool("qemu-aarch64-static", "qemu-user-static")
    _require_tool("unshare", "util-linux")
    sysroot = build_sysroot()
    cpuinfo = io_dir / "cpuinfo"
    cpuinfo.write_text(cpuinfo_text(target.cpu, target.cores))
    arguments = [str(io_dir / "runner.py"), str(artifact_dir), artifact_format,
                 str(io_dir / "images.npy"), str(io_dir / "result.json")]
    completed = subprocess.run(qemu_command(sysroot, target.cpu, cpuinfo, arguments),
                               env=qemu_environment(sysroot, target.cpu), capture_output=True, text=True)
    if completed.returncode != 0:
        last = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        if "unshare" in completed.stderr and "not permitted" in completed.stderr:
            raise EmulationError(f"unshare is not permitted here ({last[0]}); run as root or use --engine docker")
        raise EmulationError(f"the aarch64 runner failed under qemu with exit code {completed.returncode}: {last[0]}")


def _run_docker(target: Target, artifact_dir: Path, artifact_format: str, io_dir: Path) -> None:
    if shutil.which("docker") is None:
        raise EmulationError("docker not found; install Docker with binfmt support for arm64, or use --engine qemu")
    fix = "start a Docker engine with binfmt support for arm64, or use --engine qemu"
    context = docker_context()
    image = subprocess.run(["docker", "image", "inspect", docker_image_tag()], capture_output=True)
    if image.returncode != 0:
        if context is None:
            raise EmulationError("the docker engine builds its image from the repository's Dockerfile, which this "
                                 "installation lacks; run from a source checkout or use --engine qemu")
        _check(docker_build_command(context), "building the arm64 runner image", fix=fix)
    cpuinfo = io_dir / "cpuinfo"
    cpuinfo.write_text(cpuinfo_text(target.cpu, target.cores))
    _check(docker_run_command(artifact_dir, io_dir, cpuinfo, artifact_format), "running the arm64 runner image",
           fix=fix)


def run_emulated(engine: str, target: Target, artifact_dir: Path, artifact_format: str,
                 images: np.ndarray) -> tuple[np.ndarray, str]:
    """Run `images` through an artifact on the aarch64 runtime; return float logits and the runtime's name."""
    with tempfile.TemporaryDirectory(prefix="edgepipe-emulate-") as io_dir:
        io_dir = Path(io_dir)
        np.save(io_dir / "images.npy", images)
        # The runner runs from its own copy, which shows that it needs nothing else of edgepipe.
        shutil.copy(runner.__file__, io_dir / "runner.py")
        if engine == "qemu":
            _run_qemu(target, Path(artifact_dir).resolve(), artifact_format, io_dir)
        elif engine == "docker":
            _run_docker(target, Path(artifact_dir).resolve(), artifact_format, io_dir)
        else:
            raise ConfigError(f"unknown engine {engine!r}; choose qemu or docker")
        result = json.loads((io_dir / "result.json").read_text())
    return np.asarray(result["logits"], dtype=np.float32), result["runtime"]


def emulate(artifact_dir: Path, artifact_format: str, target: Target, images: np.ndarray, labels: np.ndarray,
            engine: str = "auto") -> EmulationRecord:
    """Compare an artifact's aarch64 run under emulation with its host run on the same images."""
    engine = choose_engine(engine)
    host = runner.run_artifact(artifact_dir, artifact_format, images)
    emulated, runtime = run_emulated(engine, target, artifact_dir, artifact_format, images)
    record = EmulationRecord(
        format=artifact_format, target=target.name, engine=engine, samples=len(images),
        top1_agreement=float((emulated.argmax(1) == host.argmax(1)).mean()),
        max_abs_diff=float(np.abs(emulated - host).max()),
        accuracy=float((emulated.argmax(1) == labels).mean()),
        runtime=runtime)
    logger.info("emulated %s on %s (%s, %s): top-1 agreement %.4f, max |diff| %.3g, accuracy %.4f on %d images",
                artifact_format, target.name, engine, runtime, record.top1_agreement, record.max_abs_diff,
                record.accuracy, record.samples)
    return record


def emulate_or_explain(artifact_dir: Path, artifact_format: str, target: Target, images: np.ndarray,
                       labels: np.ndarray, engine: str = "auto") -> EmulationRecord:
    """Run `emulate`, but return a record with the reason instead of raising when the engine cannot run."""
    try:
        return emulate(artifact_dir, artifact_format, target, images, labels, engine)
    except EmulationError as error:
        logger.warning("emulation check of %s on %s did not run: %s", artifact_format, target.name, error)
        return EmulationRecord(artifact_format, target.name, engine, len(images), None, None, None,
                               ran=False, reason=str(error))
