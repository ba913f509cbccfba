"""Generated secrets. Never printed, never written to a report."""

import secrets
import string

# RDS refuses '/', '@', '"' and spaces in a master password.
_ALPHABET = string.ascii_letters + string.digits + "-_.~+="


class Secret(str):
    """A str that hides itself in reprs and tracebacks."""

    def __repr__(self) -> str:
        return "Secret('***')"


def generate_password(length: int = 24) -> Secret:
    # Start with a letter: some clients choke on a leading symbol in URLs.
    first = secrets.choice(string.ascii_letters)
    rest = "".join(secrets.choice(_ALPHABET) for _ in range(length - 1))
    return Secret(first + rest)
