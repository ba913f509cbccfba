"""What a fault's apply(fc) works with: the lab's control plane and servers, the lab's own
look-ups, and an undo stack. Everything it reaches is recorded in `touched` (a system of
model.SYSTEMS), which decides the checks that are re-run under the fault.
"""

from __future__ import annotations

from contextlib import closing
from typing import Callable

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from lookups import bastion, network
from lookups.found import Found
from provisioning import naming
from provisioning.network import require_vpc
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import REDIS_PRIMARY, DataPlane
from provisioning.lab import provisioning_steps

from provisioning.readonly import is_read

from .model import MYSQL, REDIS, code_system, system_of_service

# What re-running a provisioning step writes to, besides its AWS calls (which are recorded).
STEP_SYSTEMS = {"2.3": {MYSQL}, "3.2": {MYSQL}, "5.3": {MYSQL, REDIS}}


class RecordingAwsClients(AwsClients):
    """AwsClients that report systems to `on_use`: each service they hand out (a check reads
    it), or with writes_only each service that receives a call that is not a read (a fault)."""

    def __init__(self, target: AwsTarget, on_use: Callable[[str], None], *, writes_only: bool = False):
        super().__init__(target)
        self.on_use = on_use
        self.writes_only = writes_only

    def session(self):
        fresh = self._session is None
        session = super().session()
        if fresh and self.writes_only:  # registered before any client exists: clients copy handlers
            session.events.register("before-call", self._before_call)
        return session

    def _before_call(self, model, **kwargs) -> None:
        service = model.service_model.service_name
        if not is_read(service, model.name):
            self.on_use(system_of_service(service))

    def __call__(self, service: str):
        if not self.writes_only:
            self.on_use(system_of_service(service))
        return super().__call__(service)

    def resource(self, service: str):
        if not self.writes_only:
            self.on_use(system_of_service(service))
        return super().resource(service)


class FaultContext:
    def __init__(self, *, target: AwsTarget, dataplane: DataPlane, engines, run_id: str, answers=None,
                 log: Callable[[str], None] = lambda message: None):
        self.touched: set[str] = set()
        self.clients = RecordingAwsClients(target, self.touched.add, writes_only=True)
        self.dataplane = dataplane
        self.engines = engines  # provisioning.local.engines.LocalEngines: root access to the servers
        self.run_id = run_id
        self.answers = answers  # aws_view.AwsAnswers in the AWS view, else None
        self.log = log
        self._undo: list[Callable[[], object]] = []
        self.secrets: list[str] = []  # passwords a fault sets: no check's message may show them

    def begin(self) -> None:
        self.touched = set()
        self.clients.on_use = self.touched.add

    # -- the control plane ---------------------------------------------------------------
    def aws(self, service: str):
        return self.clients(service)

    def moto(self, service: str):
        """moto's own records, for what its API cannot change (it runs in this process)."""
        self.touched.add(system_of_service(service))
        return get_backend(service)[DEFAULT_ACCOUNT_ID][naming.REGION]

    # -- the data plane (as root / without the lab's restrictions) -------------------------
    def sql(self, role: str, *statements: str, database: str | None = naming.DB_NAME) -> list:
        """Run statements as root on the primary or replica; the last statement's rows."""
        self.touched.add(MYSQL)
        with closing(self.engines.mysql.root_connect(role)) as connection, connection.cursor() as cursor:
            if database:
                cursor.execute(f"USE `{database}`")
            for statement in statements:
                cursor.execute(statement)
            return list(cursor.fetchall())

    def wait_replica_caught_up(self, timeout: float = 10.0) -> None:
        self.engines.mysql.wait_replica_caught_up(timeout=timeout)

    def redis(self, role: str = REDIS_PRIMARY, **kwargs):
        self.touched.add(REDIS)
        return self.dataplane.redis[role].connect(**kwargs)

    # -- code under test --------------------------------------------------------------------
    def patch(self, owner, name: str, value, *, system: str | None = None) -> None:
        """Replace owner.name until the fault is reverted: a method of an app class, or an app
        class in its module (the checks that use the class are re-run), or anything else with
        the system it changes."""
        if system is None:
            system = code_system(owner if isinstance(owner, type) else getattr(owner, name))
        self.touched.add(system)
        if isinstance(owner, type) and name not in owner.__dict__:  # inherited: remove the override
            self.undo(delattr, owner, name)
        else:
            self.undo(setattr, owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name))
        setattr(owner, name, value)

    # -- undo ---------------------------------------------------------------------------------
    def undo(self, action: Callable, *args, **kwargs) -> None:
        self._undo.append(lambda: action(*args, **kwargs))

    def revert(self) -> None:
        """Undo everything, newest first; every action runs even if one fails."""
        errors = []
        while self._undo:
            try:
                self._undo.pop()()
            except Exception as exc:  # noqa: BLE001 - reported together below
                errors.append(f"{type(exc).__name__}: {exc}")
        if errors:
            raise RuntimeError("reverting failed: " + "; ".join(errors))

    # -- provisioning, to rebuild what a fault replaced --------------------------------------
    def provision_context(self) -> ProvisionContext:
        primary = self.dataplane.mysql.get(naming.DB_INSTANCE)
        return ProvisionContext(clients=self.clients, run_id=self.run_id, dataplane=self.dataplane,
                                master_password=primary.password if primary else None, timeout=30,
                                log=self.log)

    def reprovision(self, *steps: str) -> None:
        """Run the lab's provisioning steps again (they adopt what exists, create what is missing)."""
        ctx = self.provision_context()
        for step in provisioning_steps():
            if step.step in steps:
                self.touched |= STEP_SYSTEMS.get(step.step, set())
                step.run(ctx)

    # -- the lab's resources, found as the checks find them ----------------------------------
    def vpc(self) -> Found:
        return require_vpc(self.aws("ec2"))

    def vpc_id(self) -> str:
        return self.vpc()["VpcId"]

    def subnet_id(self, name: str) -> str:
        return network.subnet(self.aws("ec2"), name, self.vpc())["SubnetId"]

    def group_id(self, name: str) -> str:
        return network.security_group(self.aws("ec2"), name, self.vpc())["GroupId"]

    def route_table(self, name: str = naming.PUBLIC_ROUTE_TABLE) -> Found:
        return network.route_table(self.aws("ec2"), name, self.vpc())

    def igw_id(self) -> str:
        return network.attached_internet_gateways(self.aws("ec2"), self.vpc_id())[0]["InternetGatewayId"]

    def bastion_id(self) -> str:
        return bastion.bastion(self.aws("ec2"))["InstanceId"]


