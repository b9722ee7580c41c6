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


class WorkerCrashed(MatscibenchError):
    """The process that ran a job died without returning a result (segfault, OOM kill, ...)."""


class JobTimeout(MatscibenchError):
    """A job ran past its time limit and was killed."""


class JobMemoryExceeded(MatscibenchError):
    """A job's resident memory went past its limit and the job was killed."""
