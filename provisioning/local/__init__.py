"""Local stand-ins for AWS: an embedded moto server, MariaDB and Redis processes."""
