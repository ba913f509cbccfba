"""Lab 7: cleanup. Runs last: it tears the lab down, then looks for anything left.

The teardown itself is provisioning (7.1-7.4, in dependency order); the checks only read.
"""

from dataclasses import dataclass

import pytest

from fixtures.outcomes import not_gradable
from lookups.inventory import lab_leftovers

pytestmark = pytest.mark.step("7.5")

# What moto cannot finish deleting (local-engines.md): the check names them instead of failing.
EMULATOR_UNDELETABLE = {"ElastiCache replication group", "cache subnet group"}


@dataclass(frozen=True)
class Cleanup:
    errors: dict[str, str]
    server_pids: list[int]


@pytest.fixture(scope="module")
def cleaned_up(lab_environment, lab_config) -> Cleanup:
    if not lab_config.provision:
        not_gradable("this run did not provision the lab, so it does not delete it")
    if lab_config.keep:
        not_gradable(f"--lab-keep: the lab stays up; `dblab sweep --run-id {lab_config.run_id} --delete` deletes it")
    pids = lab_environment.server_pids()
    results = lab_environment.teardown()
    # MariaDB and Redis stop now; the emulator stays up until the session ends so the
    # verification queries below can still be asked.
    lab_environment.stop_servers(keep_emulator=True)
    return Cleanup({r.step + " " + r.title: r.error for r in results if r.error}, pids)


def test_every_cleanup_step_succeeded(cleaned_up):
    assert not cleaned_up.errors, "cleanup steps failed: " + "; ".join(f"{k}: {v}" for k, v in cleaned_up.errors.items())


def test_no_lab_resource_remains(lab, cleaned_up):
    leftovers = lab_leftovers(lab.clients)
    if lab.emulated:
        leftovers = [item for item in leftovers if item.kind not in EMULATOR_UNDELETABLE]
    assert not leftovers, "left after cleanup: " + ", ".join(map(str, leftovers))


def test_elasticache_resources_deleted(lab, cleaned_up):
    leftovers = [item for item in lab_leftovers(lab.clients) if item.kind in EMULATOR_UNDELETABLE]
    if leftovers and lab.emulated:
        lab.require_real_aws(
            ", ".join(map(str, leftovers)),
            "moto keeps a deleted replication group 'deleting' forever and cannot delete cache subnet groups",
        )
    assert not leftovers, "left after cleanup: " + ", ".join(map(str, leftovers))


def test_no_server_process_remains(cleaned_up):
    alive = [pid for pid in cleaned_up.server_pids if _alive(pid)]
    assert not alive, f"server processes still running after cleanup: {alive}"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]  # the name in parentheses may hold spaces
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status remains
