import pytest

from edgepipe.errors import TargetError
from edgepipe.targets import list_targets, load_target


@pytest.mark.parametrize("name", list_targets())
def test_load_target_every_profile(name):
    target = load_target(name)
    assert target.name == name
    assert target.cores >= 1
    assert target.ram_bytes > 0
    assert target.architecture == "aarch64"


def test_load_target_rpi4_profile():
    target = load_target("rpi4")
    assert (target.cpu, target.cores) == ("cortex-a72", 4)


def test_load_target_unknown_lists_known():
    with pytest.raises(TargetError, match="unknown target 'pi5'; known targets: rpi3, rpi4"):
        load_target("pi5")
