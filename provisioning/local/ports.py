"""The local servers by the names `--lab-ports` fixes their ports with.

One spelling for the option's parser (provisioning/settings.py), its help text and the
engines that bind the ports (provisioning/local/engines.py).
"""

MOTO = "moto"
MYSQL_PRIMARY = "mysql_primary"
MYSQL_REPLICA = "mysql_replica"
REDIS_PRIMARY = "redis_primary"
REDIS_REPLICA = "redis_replica"

PORT_KEYS = (MOTO, MYSQL_PRIMARY, MYSQL_REPLICA, REDIS_PRIMARY, REDIS_REPLICA)
# What the help text shows as an example of fixed ports.
EXAMPLE_PORTS = dict(zip(PORT_KEYS, (5000, 13306, 13307, 16379, 16380)))
