"""`pytest -m local` against servers the user runs (e.g. docker compose), given by URL."""

import os
import subprocess
import sys
from urllib.parse import quote

import pytest

from provisioning.local.engines import start_local_engines
from provisioning.passwords import generate_password

from .conftest import REPO_ROOT
from .test_local_run_interrupted import servers_under


@pytest.fixture(scope="module")
def user_servers(tmp_path_factory):
    engines = start_local_engines(tmp_path_factory.mktemp("user-servers"), generate_password(), moto=False)
    yield engines
    engines.stop()


def mysql_url(endpoint) -> str:
    return f"mysql://{endpoint.user}:{quote(str(endpoint.password), safe='')}@{endpoint.host}:{endpoint.port}/{endpoint.database}"


def test_local_run_uses_the_given_servers_and_leaves_them_running(user_servers, tmp_path):
    workdir = tmp_path / "lab"
    env = {
        **os.environ, "PYTHONPATH": str(REPO_ROOT),
        # URLs through the environment: a password on the command line shows in `ps`.
        "LAB_MYSQL_URL": mysql_url(user_servers.mysql.primary),
        "LAB_MYSQL_REPLICA_URL": mysql_url(user_servers.mysql.replica),
        "LAB_REDIS_URL": f"redis://127.0.0.1:{user_servers.redis.primary.port}",
        "LAB_REDIS_REPLICA_URL": f"redis://127.0.0.1:{user_servers.redis.replica.port}",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "local", "-q", "-p", "no:cacheprovider", "--junitxml",
         str(tmp_path / "junit.xml"), "--lab-workdir", str(workdir), "suites/test_lab1_network.py",
         "suites/test_lab1_rds_and_bastion.py", "suites/test_lab2_replication.py", "suites/test_lab5_elasticache.py",
         "suites/test_lab5_redis_caching_patterns.py"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert str(user_servers.mysql.primary.password) not in result.stdout + result.stderr
    assert not servers_under(workdir), "the run started servers of its own"
    with user_servers.mysql.primary.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM products")  # the run provisioned into the given server
        assert cursor.fetchone()[0] > 0
    assert user_servers.redis.replica.connect().ping(), "the user's servers must outlive the run"
