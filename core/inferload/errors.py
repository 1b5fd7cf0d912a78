"""Errors a user can cause, and the exit codes they map to (0 ok, 1 run failed, 2 usage error)."""

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2


class InferloadError(Exception):
    """Base for errors that end the CLI with one clear line instead of a traceback."""

    exit_code = EXIT_RUN_FAILED


class UsageError(InferloadError):
    """The user gave a wrong flag, value, file or combination; the message says which and how to fix it."""

    exit_code = EXIT_USAGE


class PluginError(InferloadError):
    """A plugin failed to load or clashes with another; the message names the plugin and distribution."""

    exit_code = EXIT_USAGE


class RunFailed(InferloadError):
    """The benchmark could not complete (e.g. the target server never answered)."""

    exit_code = EXIT_RUN_FAILED


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) that ends the process before a run could drain; the exit
    code is 128 + the signal's number (130, 143, 129)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + int(signum)
