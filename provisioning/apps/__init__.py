"""Reference implementations of the lab's applications, with the errata fixed."""
