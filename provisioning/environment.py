"""The whole lab environment's lifecycle: start servers, bind, provision, tear down, stop.

Plain Python so the pytest fixtures, the sweeper and the grader share it. `close()` is
idempotent and safe after a partial start, a failure or Ctrl-C.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import lab, naming
from .aws import AwsClients, AwsTarget, check_reachable
from .context import ProvisionContext
from .dataplane import REDIS_PRIMARY, REDIS_REPLICA, DataPlane, parse_mysql_url, parse_redis_url
from .passwords import Secret, generate_password
from .timeline import RunTimeline, summary


class LabSetupError(RuntimeError):
    """Bad configuration or a missing prerequisite; the message is one line that names the fix."""


@dataclass
class EnvironmentSpec:
    local: bool
    aws: AwsTarget  # endpoint_url None in local mode means: start the embedded moto
    provision: bool
    run_id: str
    ssh_cidr: str | None  # None: the runner's own address (provisioning/run_tunnel.runner_cidr)
    timeout: float
    workdir: Path | None = None
    mysql_url: str | None = None
    mysql_replica_url: str | None = None
    redis_url: str | None = None
    redis_replica_url: str | None = None
    ports: dict[str, int] = field(default_factory=dict)  # fixed local ports; free ones otherwise
    read_only: bool = False  # grading: AWS clients refuse every write
    realism: float = 0.0  # >0: the emulator behaves like AWS at this scale of its durations (provisioning/realism)
    keep: bool = False  # leave the lab up at the end (no teardown)
    reports_dir: Path | None = None  # the run's journal and timeline go to reports_dir/runs/<run-id>/
    # Reach the provisioned servers through the run's bastion: None decides by the target (a run
    # that provisions on real AWS with no data-plane URLs given); True also against an emulator.
    tunnel: bool | None = None
    offline: bool = False  # a regrade: recorded answers stand in for AWS, whose endpoint is never reached


@dataclass
class LabEnvironment:
    spec: EnvironmentSpec
    log: Callable[[str], None] = print
    engines: object | None = field(default=None, init=False)
    clients: AwsClients | None = field(default=None, init=False)
    dataplane: DataPlane = field(default_factory=DataPlane, init=False)
    provision_results: list = field(default_factory=list, init=False)
    teardown_results: list | None = field(default=None, init=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)
    _password: Secret | None = field(default=None, init=False, repr=False)
    _workdir: Path | None = field(default=None, init=False)
    _owns_workdir: bool = field(default=False, init=False)
    _servers_stopped: bool = field(default=False, init=False)
    realism_proxy: object | None = field(default=None, init=False)
    run_tunnel: object | None = field(default=None, init=False)
    timeline: RunTimeline | None = field(default=None, init=False)

    # -- start -------------------------------------------------------------------------
    def start(self) -> "LabEnvironment":
        start = time.monotonic()
        external = self._external_dataplane()
        self._password = self._master_password(external)
        target = self.spec.aws
        if target.endpoint_url and not self.spec.offline:
            try:
                check_reachable(target.endpoint_url)
            except Exception as exc:
                raise LabSetupError(f"{exc}; start the emulator there, or unset AWS_ENDPOINT_URL/LOCALSTACK_HOST "
                                    "to use the embedded moto") from None
        if self.spec.local:
            self._start_engines(need_mysql=not external.mysql, need_redis=not external.redis)
            if self.engines is not None and self.engines.moto is not None:
                target = AwsTarget(region=target.region, endpoint_url=self.engines.moto.endpoint_url)
            local = self.engines.dataplane() if self.engines is not None else DataPlane()
            self.dataplane = DataPlane(
                mysql={**local.mysql, **external.mysql},
                redis={**local.redis, **external.redis},
                engine_note=local.engine_note,
            )
        else:
            self.dataplane = external
        if self.spec.local and not target.emulated:
            raise LabSetupError("local mode must never reach real AWS: no emulator endpoint is set")
        target = self._realistic(target)
        self.clients = AwsClients(target, read_only=self.spec.read_only, journal=self._journal(target))
        self.timings["servers"] = time.monotonic() - start
        if self.spec.provision:
            self._provision()
        return self

    def _provision(self) -> None:
        self.timeline = RunTimeline(self.spec.run_id, self.clients.target.describe(), self.spec.realism)
        ctx, extra_steps, extra_waits = self._context(), [], None
        if self._tunnelled():
            from . import run_tunnel

            self._private_state_dir()
            if ctx.ssh_cidr is None:
                try:
                    self.spec.ssh_cidr = run_tunnel.runner_cidr()
                except run_tunnel.RunnerAddressError as exc:
                    raise LabSetupError(str(exc)) from None
            ctx = self._context()
            self.run_tunnel = run_tunnel.RunTunnel(timeout=min(self.spec.timeout, 120.0))
            extra_steps, extra_waits = [self.run_tunnel.step()], run_tunnel.WAITS
        begin, heard = time.monotonic(), []
        try:
            self.provision_results = lab.provision(ctx, lab.provisioning_steps() + extra_steps, workers=None,
                                                   on_result=heard.append, extra_waits=extra_waits)
        finally:
            self.timings["provisioning"] = time.monotonic() - begin
            self._record_timeline("provisioning", heard)
            self.dataplane = ctx.dataplane  # through the run's tunnel, when it opened

    def _tunnelled(self) -> bool:
        if self.spec.tunnel is not None:
            return self.spec.tunnel
        external = self.spec.mysql_url or self.spec.redis_url
        return not self.spec.local and not self.clients.target.emulated and not external

    def _private_state_dir(self) -> None:
        """Where the run keeps the bastion's private key: readable by this user only, never reports/."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"dblab-{self.spec.run_id}-"))  # mode 0700
            self._owns_workdir = not self.spec.keep  # a kept lab's key stays for the checks to come
            self.log(f"run state (the bastion's private key): {self._workdir}")

    def _realistic(self, target: AwsTarget) -> AwsTarget:
        """With a realism scale, put the AWS-like proxy in front of the emulator (never real AWS)."""
        if not self.spec.realism:
            return target
        if not target.emulated:
            raise LabSetupError("--lab-aws-realism slows an emulator down to AWS's pace; real AWS has its own")
        from .realism import start_realism_proxy

        self.realism_proxy = start_realism_proxy(target.endpoint_url, self.spec.realism)
        self.log(f"AWS realism x{self.spec.realism:g}: {target.endpoint_url} behind {self.realism_proxy.endpoint_url}")
        return AwsTarget(region=target.region, endpoint_url=self.realism_proxy.endpoint_url, profile=target.profile)

    def run_dir(self) -> Path | None:
        if self.spec.reports_dir is None:
            return None
        from .journal import RUNS_DIR

        return Path(self.spec.reports_dir) / RUNS_DIR / self.spec.run_id

    def _journal(self, target: AwsTarget):
        # Only a run that creates something keeps a journal; the sweeper reads it after any crash.
        if not self.spec.provision or self.spec.read_only or self.run_dir() is None:
            return None
        from .journal import JOURNAL_NAME, RunJournal

        return RunJournal(self.run_dir() / JOURNAL_NAME, self.spec.run_id, target.region)

    def _record_timeline(self, phase: str, results: list) -> None:
        if self.timeline is None or not results:
            return
        self.log(summary(self.timeline.add(phase, results)))
        if self.run_dir() is not None:
            try:
                self.timeline.write(self.run_dir())
            except OSError as exc:
                self.log(f"timeline not written: {exc}")

    def _external_dataplane(self) -> DataPlane:
        spec = self.spec
        mysql, redis = {}, {}
        try:
            # Each server on its own: a graded account may have a primary without a replica
            # (settings.py lets only grading give one without the other).
            for name, url in ((naming.DB_INSTANCE, spec.mysql_url), (naming.DB_REPLICA, spec.mysql_replica_url)):
                if url:
                    mysql[name] = parse_mysql_url(url)
            for role, url in ((REDIS_PRIMARY, spec.redis_url), (REDIS_REPLICA, spec.redis_replica_url)):
                if url:
                    redis[role] = parse_redis_url(url)
        except ValueError as exc:
            raise LabSetupError(str(exc)) from None
        return DataPlane(mysql=mysql, redis=redis)

    def _master_password(self, external: DataPlane) -> Secret:
        primary = external.mysql.get(naming.DB_INSTANCE)
        return primary.password if primary is not None else generate_password()

    def _start_engines(self, *, need_mysql: bool, need_redis: bool) -> None:
        from .local.engines import start_local_engines
        from .local.processes import EngineError

        need_moto = self.spec.aws.endpoint_url is None
        if not (need_moto or need_mysql or need_redis):
            return
        if self.spec.workdir is not None:
            self._workdir = Path(self.spec.workdir)
            self._workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="dblab-"))
            self._owns_workdir = True
        try:
            self.engines = start_local_engines(self._workdir, self._password, moto=need_moto,
                                               mysql=need_mysql, redis=need_redis, ports=self.spec.ports,
                                               timeout=self.spec.timeout)
        except EngineError as exc:
            raise LabSetupError(str(exc)) from None

    def _context(self) -> ProvisionContext:
        return ProvisionContext(
            clients=self.clients, run_id=self.spec.run_id, dataplane=self.dataplane,
            master_password=self._password, ssh_cidr=self.spec.ssh_cidr, timeout=self.spec.timeout,
            log=self.log, state_dir=self._workdir,
        )

    # -- stop --------------------------------------------------------------------------
    def teardown(self) -> list:
        """Delete what provisioning created (7.1-7.4); once, even if called again. A kept lab
        (spec.keep) is left as it is: `dblab sweep --run-id` deletes it later."""
        if self.teardown_results is None:
            if not (self.spec.provision and self.clients is not None) or self.spec.keep:
                self.teardown_results = []
            else:
                begin, heard = time.monotonic(), []
                try:
                    self.teardown_results = lab.teardown(self._context(), workers=None, on_result=heard.append)
                finally:
                    self.timings["teardown"] = time.monotonic() - begin
                    self._record_timeline("teardown", heard)
        return self.teardown_results

    def server_pids(self) -> list[int]:
        return list(self.engines.pids()) if self.engines is not None else []

    def stop_servers(self, *, keep_emulator: bool = False) -> None:
        """Stop MariaDB and Redis; the emulator too unless a check still has to query it."""
        if self.engines is None:
            return
        if keep_emulator:
            for pair in (self.engines.mysql, self.engines.redis):
                if pair is not None:
                    pair.stop()
        else:
            self.engines.stop()
            self._servers_stopped = True

    def close(self) -> None:
        """Teardown, then stop every server, then remove the work directory. Never raises."""
        try:
            self.teardown()
        except Exception as exc:
            self.log(f"teardown failed: {type(exc).__name__}: {exc}")
        finally:
            if self.run_tunnel is not None:
                self.run_tunnel.close()
            if self.realism_proxy is not None:
                self.realism_proxy.stop()
            if self.engines is not None and not self._servers_stopped:
                self.engines.stop()
                self._servers_stopped = True
            if self._owns_workdir and self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
