"""Erratum 5: Lab 6.1's numbers. Its p99 of 100 samples is their maximum, its "concurrent" test
times another query than its single test, and it times with the wall clock.

Each is shown by running code, not by reading it: the lab's own 6.1 script (its Python block,
taken from the lab text and executed) against a real MariaDB, then the suite's benchmarks
(suites/test_lab6_performance.py) against the same server, recording every statement each sends
to the server and every latency each computes.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from contextlib import closing
from types import SimpleNamespace

import pymysql
import pytest

from fixtures.bench_stats import percentiles
from fixtures.benchmarks import Budget
from fixtures.lab import LabContext
from provisioning import naming
from provisioning.lab_replay import lab_python
from provisioning.apps import products
from provisioning.dataplane import DataPlane
from provisioning.local.mariadb import start_mysql_pair
from provisioning.passwords import generate_password
from suites import test_lab6_performance as lab6

LAB_2_3_WIDGETS = "INSERT INTO products (name, price) VALUES ('Widget A', 19.99), ('Widget B', 29.99), ('Gadget X', 49.99)"
# A budget of a few rounds: these tests look at what is timed and how, never at how fast.
TINY_BUDGET = Budget(seconds=0.001, min_rounds=3)


@pytest.fixture(scope="module")
def primary(tmp_path_factory):
    """A MariaDB primary holding Lab 2.3's products table and widgets."""
    pair = start_mysql_pair(tmp_path_factory.mktemp("errata-benchmarks"), generate_password())
    with closing(pair.primary.connect()) as connection, connection.cursor() as cursor:
        cursor.execute(products.LAB_2_3_CREATE_TABLE_SQL)
        cursor.execute(LAB_2_3_WIDGETS)
    yield pair.primary
    pair.stop()


@pytest.fixture
def lab_6_1(primary):
    """Lab 6.1's script as printed, executed as a module (so its main() does not run), with its
    DB_CONFIG pointed at the primary: the lab's 'your-rds-endpoint' and its literal password
    are the only things replaced."""
    source, origin = lab_python("6.1")
    script = {"__name__": "lab_6_1"}
    exec(compile(source, origin, "exec"), script)
    script["DB_CONFIG"].update(host=primary.host, port=primary.port, user=primary.user,
                               password=str(primary.password), database=primary.database)
    return SimpleNamespace(**{name: script[name] for name in ("single_query_test", "concurrent_query_test", "print_stats")})


@pytest.fixture
def sent(monkeypatch):
    """Every statement sent through pymysql, as the server receives it (parameters bound), with
    the number of rows it returned; from any thread."""
    statements: list[tuple[str, int]] = []
    execute = pymysql.cursors.Cursor.execute

    def recording_execute(cursor, query, args=None):
        result = execute(cursor, query, args)
        statements.append((cursor.mogrify(query, args), cursor.rowcount))
        return result

    monkeypatch.setattr(pymysql.cursors.Cursor, "execute", recording_execute)
    return statements


class Harness:
    """The part of pytest-benchmark's fixture the Lab 6 benchmarks use. It keeps the statements
    sent while it times a call (a setup, as in pytest-benchmark, is not timed)."""

    def __init__(self, sent: list):
        self.group, self.extra_info, self.samples, self.timed = None, {}, [], []
        self._sent = sent

    def pedantic(self, target, args=(), kwargs=None, setup=None, rounds=1, warmup_rounds=0, iterations=1):
        for _ in range(warmup_rounds + rounds):
            call_args, call_kwargs = args, kwargs or {}
            if setup is not None:
                prepared = setup()
                if prepared is not None:
                    call_args, call_kwargs = prepared
            first = len(self._sent)
            start = time.perf_counter()
            target(*call_args, **call_kwargs)
            self.samples.append(time.perf_counter() - start)
            self.timed += self._sent[first:]

    @property
    def stats(self):
        return SimpleNamespace(stats=SimpleNamespace(median=statistics.median(self.samples), data=self.samples))


@pytest.fixture
def suite_lab(aws_clients, primary):
    """A LabContext whose RDS primary (on the emulator) is bound to the MariaDB primary."""
    aws_clients("rds").create_db_instance(
        DBInstanceIdentifier=naming.DB_INSTANCE, DBInstanceClass=naming.DB_INSTANCE_CLASS, Engine=naming.DB_ENGINE,
        EngineVersion=naming.DB_ENGINE_VERSION, MasterUsername=naming.DB_MASTER_USER,
        MasterUserPassword=str(primary.password), AllocatedStorage=naming.DB_STORAGE_GB)
    return LabContext(clients=aws_clients, dataplane=DataPlane(mysql={naming.DB_INSTANCE: primary}), timeout=5,
                      target="local")


def run_suite_benchmarks(lab, sent) -> tuple[Harness, Harness]:
    """The suite's single and concurrent MySQL benchmarks, as `make bench` runs them."""
    single, concurrent = Harness(sent), Harness(sent)
    lab6.test_point_select_by_primary_key(lab, single, TINY_BUDGET, {})
    lab6.test_concurrent_point_selects_10_threads_x_50(lab, concurrent, TINY_BUDGET)
    return single, concurrent


@pytest.fixture
def stepped_wall_clock(monkeypatch):
    """time.time() stepped back 10 ms between any two readings (NTP or an administrator setting
    the clock); perf_counter and monotonic are not affected, as on a real machine."""
    wall = time.time
    readings = iter(range(1, 1 << 62))
    lock = threading.Lock()

    def stepped():
        with lock:
            return wall() - 0.010 * next(readings)

    monkeypatch.setattr(time, "time", stepped)
    assert time.time() > time.time()  # the clock in place does go backwards


# --- p99 --------------------------------------------------------------------------------------

def stated(printed: str, name: str) -> float:
    found = re.search(rf"^\s*{name}: ([-\d.]+)( ms)?$", printed, flags=re.MULTILINE)
    assert found, f"the lab's print_stats printed no {name}: {printed!r}"
    return float(found.group(1))


def test_lab_p99_of_100_samples_is_their_maximum(lab_6_1, capsys):
    latencies = lab_6_1.single_query_test()
    latencies[-1] += 250.0  # one of the 100 queries stalled by a 250 ms pause (a garbage collection)
    capsys.readouterr()
    lab_6_1.print_stats("Single Query", latencies)
    printed = capsys.readouterr().out
    assert stated(printed, "Count") == 100
    # The "p99" it prints is that one stalled query: a statement about one sample, not the 99th percentile.
    assert stated(printed, "p99") == stated(printed, "Max") >= 250


def test_suite_p99_needs_enough_samples_and_is_not_the_maximum(lab_6_1):
    # The same 100 latencies the lab prints a p99 for: the suite reports none.
    assert percentiles(lab_6_1.single_query_test())["p99"] is None
    samples = [1.0] * 990 + [5.0] * 9 + [250.0]  # one garbage-collection pause in 1000 queries
    assert percentiles(samples)["p99"] < max(samples)


# --- the query the concurrent test times ---------------------------------------------------------

def test_lab_concurrent_test_times_another_query_than_its_single_test(lab_6_1, sent):
    lab_6_1.single_query_test()
    single = set(sent)
    sent.clear()
    lab_6_1.concurrent_query_test()
    concurrent = set(sent)
    assert single and concurrent and single.isdisjoint(concurrent), (single, concurrent)
    # Every row, against one row by key: not comparable.
    assert {rows for _, rows in single} == {1} and {rows for _, rows in concurrent} != {1}


def test_suite_concurrent_benchmark_times_the_single_tests_query(suite_lab, lab_6_1, sent):
    single, concurrent = run_suite_benchmarks(suite_lab, sent)
    assert single.timed and concurrent.timed
    assert set(concurrent.timed) == set(single.timed), (set(single.timed), set(concurrent.timed))
    sent.clear()
    lab_6_1.single_query_test()
    assert set(single.timed) == set(sent)  # and it is the lab's single query, one row by key


# --- the clock --------------------------------------------------------------------------------------

def test_lab_timer_can_go_backwards(lab_6_1, stepped_wall_clock):
    latencies = lab_6_1.single_query_test()
    assert min(latencies) < 0, f"the lab's latencies under a stepped clock: min {min(latencies)} ms"


def test_suite_timer_is_monotonic(suite_lab, sent, stepped_wall_clock):
    single, concurrent = run_suite_benchmarks(suite_lab, sent)
    # Latencies the suite's own code measures (the concurrent workers' and the bare loop's).
    measured = {key: value for key, value in concurrent.extra_info.items() if key.startswith("latency_p")}
    measured["bare_loop_median_s"] = single.extra_info["bare_loop_median_s"]
    assert all(value is not None and value > 0 for value in measured.values()), measured
