"""Shared test helpers: compiling C programs, starting processes, fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import NoReturn

import pluggy
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data"

#: Under CI=true a skipped test fails the run unless its reason starts with one of
#: these: features of the machine's kernel that no set-up step can add, and cases
#: of a parametrized test that do not apply to one parameter (each says why; see
#: :func:`not_applicable`).  A missing tool, package or fixture is a failure there
#: (scripts/check installs them all).
NOT_APPLICABLE = "not applicable: "
#: a peer tool no package ships and whose source the repository does not hold (the
#: kernel's page-types, built from a kernel tree by benchmarks/build_page_types.sh):
#: its test runs when the binary is named; an always-on test covers the same ground
OPTIONAL_PEER = "optional peer: "
CI_ALLOWED_SKIPS = (
    "kernel has no ",
    "kernel without ",
    "this kernel maps no ",
    "the kernel maps no ",
    "userfaultfd write-protect is not available",
    NOT_APPLICABLE,
    OPTIONAL_PEER,
)
IN_CI = os.environ.get("CI") == "true"

# CI runs every property test on the same examples (no random seed, no example
# database carried between runs), so a CI result can be reproduced exactly.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    if not IN_CI or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    if not reason.startswith(CI_ALLOWED_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true for a reason not on CI_ALLOWED_SKIPS: {reason}"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"test data missing at {FIXTURES}")
    return FIXTURES


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup --test installs it as root)")
    return path


def not_applicable(reason: str) -> NoReturn:
    """Skip a case of a parametrized test that does not apply to its parameters (a
    check written for one workload, a build without symbols...): never for a missing
    tool, file or feature, which fail under CI."""
    pytest.skip(NOT_APPLICABLE + reason)


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (CAP_SYS_ADMIN) for PFNs and kpageflags")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("build")


def compile_c(source: str, out: Path, *flags: str) -> Path:
    """Compile C source text with gcc into ``out``; returns ``out``."""
    need_tool("gcc")
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-g", "-o", str(out), str(src), *flags], check=True)
    return out


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Collects started processes and kills them at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
