"""Exceptions with messages that say what went wrong, where, and how to fix it."""

from __future__ import annotations


class MatscibenchError(Exception):
    """Base class of every error this package raises on purpose."""


class SuiteError(MatscibenchError):
    """A suite specification (TOML) is invalid."""


class RegistryError(MatscibenchError, KeyError):
    """A task, model or dataset name is unknown."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DatasetError(MatscibenchError):
    """A dataset file is malformed (bad CIF, missing column, ...)."""


class ChecksumError(DatasetError):
    """A dataset file does not have the sha256 the registry expects."""


class DatasetNotAvailable(DatasetError):
    """A dataset is neither cached nor present locally, and cannot be downloaded."""


class ModelOutputError(MatscibenchError):
    """A model returned predictions of the wrong shape or with non-finite values."""


class PredictionsFileError(MatscibenchError):
    """A predictions file given to be scored (``predictions_file``) is malformed: missing or extra
    ids, NaN, wrong shapes or units. The message names the file, the first bad row and the fix."""


class WorkerCrashed(MatscibenchError):
    """The process that ran a job died without returning a result (segfault, OOM kill, ...)."""


class JobTimeout(MatscibenchError):
    """A job ran past its time limit and was killed."""


class JobMemoryExceeded(MatscibenchError):
    """A job's resident memory went past its limit and the job was killed."""


class StoreError(MatscibenchError):
    """The results store cannot be opened or written (a corrupt file, a read-only folder, a value
    the database refuses)."""


#: longest error message kept with a job (characters); longer ones keep their head and tail
MESSAGE_MAX_CHARS = 4000
#: longest traceback kept with a job (characters)
TRACEBACK_MAX_CHARS = 64000


def safe_str(obj: object) -> str:
    """``str(obj)``, or a placeholder when its ``__str__`` itself raises."""
    try:
        return str(obj)
    except Exception:  # noqa: BLE001 - a hostile __str__
        return f"<{type(obj).__name__} whose text could not be read>"


def clean_text(text: object, limit: int = MESSAGE_MAX_CHARS) -> str:
    """Text that can be stored and shown whatever a model put in it: at most ``limit`` characters
    (head and tail kept, the middle replaced by a note saying how much was cut), valid UTF-8 (lone
    surrogates and other unencodable code points written as backslash escapes) and no NUL
    characters (PostgreSQL refuses them). Costs O(limit), not O(len(text))."""
    s = text if isinstance(text, str) else safe_str(text)
    if len(s) > limit:
        head = max(0, (limit * 2) // 3)
        tail = max(0, limit - head - 40)
        s = f"{s[:head]} … [{len(s) - head - tail:,} characters cut] … {s[len(s) - tail:] if tail else ''}"
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s.replace("\x00", "\\x00")
