"""Lab 6 as the student runs it after Lab 5: the lab's own 6.1 and 6.2 scripts (their Python
blocks, taken from the lab text), executed whole against the lab's servers. Only the endpoint,
port and password placeholders are replaced; everything the scripts write stays written (Lab
6.2's benchmark_cache leaves `product:1` in Redis with no TTL)."""

from __future__ import annotations

import functools
import io
from contextlib import redirect_stdout
from types import SimpleNamespace

from provisioning.dataplane import MysqlEndpoint, RedisEndpoint
from provisioning.lab_replay import lab_python


def run_lab_6(mysql: MysqlEndpoint, redis_primary: RedisEndpoint) -> str:
    """Run 6.1's and 6.2's main() against the servers; what they printed."""
    import redis

    printed = io.StringIO()
    for step in ("6.1", "6.2"):
        source, origin = lab_python(step)
        script = {"__name__": f"lab_{step.replace('.', '_')}"}  # not __main__: main() runs below
        exec(compile(source, origin, "exec"), script)
        script["DB_CONFIG"].update(host=mysql.host, port=mysql.port, user=mysql.user, password=str(mysql.password),
                                   database=mysql.database)
        if "REDIS_HOST" in script:
            script["REDIS_HOST"] = redis_primary.host
            # The lab's redis.Redis(host=REDIS_HOST, ...) reaches the default port; ours is elsewhere.
            script["redis"] = SimpleNamespace(Redis=functools.partial(redis.Redis, port=redis_primary.port))
        with redirect_stdout(printed):
            script["main"]()
    return printed.getvalue()
