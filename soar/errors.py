"""Expected failures: the CLI prints their message on one line and exits with code 2."""


class SoarError(Exception):
    """An expected failure whose message says what to do."""
