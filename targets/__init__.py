"""Target device profiles, one TOML file per device in this package's directory."""

import tomllib
from dataclasses import dataclass
from importlib import resources

from edgepipe.errors import TargetError


@dataclass(frozen=True)
class Target:
    """A device profile: what the pipeline needs to know about where the model will run."""

    name: str
    description: str
    cpu: str
    architecture: str
    cores: int
    ram_bytes: int

    def __post_init__(self):
        if self.cores < 1:
            raise TargetError(f"target {self.name!r}: cores must be at least 1, got {self.cores}")
        if self.ram_bytes < 1:
            raise TargetError(f"target {self.name!r}: ram_bytes must be positive, got {self.ram_bytes}")


def list_targets() -> list[str]:
    """Return the names of the bundled target profiles, sorted."""
    return sorted(entry.name.removesuffix(".toml") for entry in resources.files(__package__).iterdir()
                  if entry.name.endswith(".toml"))


def load_target(name: str) -> Target:
    """Load the bundled profile `name`, such as `rpi4`."""
    known = list_targets()
    if name not in known:
        raise TargetError(f"unknown target {name!r}; known targets: {', '.join(known)}")
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    try:
        fields = tomllib.loads(text)
        return Target(**fields)
    except (tomllib.TOMLDecodeError, TypeError) as error:
        raise TargetError(f"target profile {name}.toml is malformed: {error}") from error
