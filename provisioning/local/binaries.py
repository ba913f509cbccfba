"""Where the server binaries are, and what to do when one is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .processes import MissingBinary

BIN_DIR_ENV = "LAB_SERVER_BIN_DIR"

MARIADBD = "mariadbd"
MARIADB_INSTALL_DB = "mariadb-install-db"
REDIS_SERVER = "redis-server"

# Debian/Ubuntu package that ships each binary
PACKAGES = {MARIADBD: "mariadb-server", MARIADB_INSTALL_DB: "mariadb-server", REDIS_SERVER: "redis-server"}

# Server binaries often live outside a user's PATH (mariadbd is in /usr/sbin).
SYSTEM_DIRS = ("/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/bin", "/usr/bin", "/sbin")


def find_binary(name: str) -> Path:
    """The executable `name`, from LAB_SERVER_BIN_DIR if set, else PATH and the system dirs.

    An override directory is searched alone (with its bin/ and sbin/), so a test of a
    specific build never silently runs the system's server instead.
    """
    package = PACKAGES.get(name, name)
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        base = Path(override)
        found = shutil.which(name, path=os.pathsep.join(str(d) for d in (base, base / "bin", base / "sbin", base / "scripts")))
        if found is None:
            raise MissingBinary(f"{name} not found in {BIN_DIR_ENV}={override}: put it there, or unset "
                                f"{BIN_DIR_ENV} and install it with `apt-get install {package}` (or run `make local`)")
        return Path(found)
    search = os.environ.get("PATH", "").split(os.pathsep) + list(SYSTEM_DIRS)
    found = shutil.which(name, path=os.pathsep.join(d for d in search if d))
    if found is None:
        raise MissingBinary(f"{name} not found: install it with `apt-get install {package}` (or run `make local`)")
    return Path(found)


def require(*names: str) -> dict[str, Path]:
    """Find several binaries at once, before anything starts, so a setup fails in one go."""
    return {name: find_binary(name) for name in names}
