"""The lock files pin every Python dependency to one version with hashes, and agree with pyproject.toml.

`make install` installs with `pip --require-hashes -r requirements-dev.lock`, so a release published
after the lock was made never reaches an install unseen; `make lock` moves the pins on purpose.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)")


def _pins(name: str) -> dict[str, tuple[Version, int]]:
    """{package: (version, number of hashes)} of a lock file; fails on any line that pins loosely."""
    pins: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for line in (ROOT / name).read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash=sha256:"):
            assert current is not None, f"{name}: a hash before any requirement"
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
            continue
        match = PIN.match(stripped)
        assert match, f"{name}: {stripped!r} is not pinned with =="
        current = str(canonicalize_name(match.group(1).split("[")[0]))
        pins[current] = (Version(match.group(2)), 0)
    return pins


DEV = _pins("requirements-dev.lock")
RUNTIME = _pins("requirements.lock")


@pytest.mark.parametrize("name", ["requirements-dev.lock", "requirements.lock"])
def test_every_pin_carries_hashes(name: str) -> None:
    pins = _pins(name)
    assert len(pins) > 20
    assert [p for p, (_, hashes) in pins.items() if hashes == 0] == []


def _declared(extra: bool) -> list[Requirement]:
    project = PYPROJECT["project"]
    names = list(project["dependencies"]) + PYPROJECT["build-system"]["requires"]
    if extra:
        names += project["optional-dependencies"]["dev"]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize(("pins", "extra"), [(DEV, True), (RUNTIME, False)], ids=["dev", "runtime"])
def test_every_declared_dependency_is_pinned_within_its_range(
    pins: dict[str, tuple[Version, int]], extra: bool
) -> None:
    for requirement in _declared(extra):
        name = str(canonicalize_name(requirement.name))
        assert name in pins, f"{requirement} is not in the lock: run make lock"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"{requirement} but the lock pins {pins[name][0]}"
        )


def test_runtime_lock_uses_the_same_versions_as_the_dev_lock() -> None:
    assert {p: v for p, (v, _) in RUNTIME.items() if DEV.get(p, (None,))[0] != v} == {}
    assert "pytest" not in RUNTIME and "pytest" in DEV
