"""Faults that are wrong on purpose, to prove the verdicts (not the checks): the runner runs them
beside the catalogue and the self-test expects each to get its own verdict, not "killed".

A runner that counted a crash as a kill, or did not look past a fault's targets, would report
these killed, and tests/test_fault_catalogue.py would fail.
"""

from __future__ import annotations

import dataclasses

from lookups import network

from .model import EC2, fault
from .network import dns_hostnames_off, ssh_open_to_the_world
from .verdicts import COLLATERAL, CRASHED


@fault("1.1", "probe-over-broad", "DNS hostnames off, and SSH opened to the world on the way (over-broad)",
       "test_vpc_has_dns_hostnames_enabled", breaks="EnableDnsHostnames")
def over_broad(fc):
    dns_hostnames_off.apply(fc)
    ssh_open_to_the_world.apply(fc)  # not a target: the 1.2 checks it fails are collateral


@fault("1.1", "probe-raises", "the VPC look-up answers without a CIDR: the CIDR check raises KeyError",
       "test_vpc_has_the_lab_cidr", breaks="CIDR")
def raises(fc):
    look_up = network.vpc

    def without_cidr(*args, **kwargs):
        found = look_up(*args, **kwargs)
        if not found or found.resource.get("CidrBlock") is None:
            return found
        resource = {key: value for key, value in found.resource.items() if key != "CidrBlock"}
        return dataclasses.replace(found, resource=resource)

    fc.patch(network, "vpc", without_cidr, system=EC2)


# The verdict each must get; none may be "killed".
PROBES = {over_broad: COLLATERAL, raises: CRASHED}
