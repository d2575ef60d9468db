"""Errors about the broker's prerequisites, each saying what to do about it."""

from pytest_frida.errors import FridaSetupError


class KafkaSetupError(FridaSetupError):
    """Java, Maven or a Kafka distribution is missing or unusable."""


def key_line(log: str) -> str:
    """The line of a JVM log that says why it stopped: the exception logged with the first
    ERROR (Kafka logs the cause first and a cascade of shutdown errors after it), else the
    last exception message that is not a stack frame, else the last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]

    def exception(line: str) -> bool:
        return not line.startswith(("at ", "...")) and ("Exception" in line or "Error:" in line)

    for i, line in enumerate(lines):
        if " ERROR " in line:
            following = [x for x in lines[i + 1 : i + 4] if exception(x)]
            return following[0].removeprefix("Caused by: ") if following else line
    for line in reversed(lines):
        if exception(line):
            return line.removeprefix("Caused by: ")
    return lines[-1] if lines else "(no log)"
