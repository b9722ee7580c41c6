"""Suite specifications: tasks x models x folds x repeats, in TOML.

Example (``my_suite.toml``)::

    name = "my-suite"
    description = "formation energy, three baselines"
    folds = "all"          # or a list of fold indices, e.g. [0, 1, 2]
    repeats = 3            # seeds: seed, seed + 1, ...
    seed = 0
    workers = "auto"       # parallel jobs (each in its own process)
    timeout_s = 3600       # per job
    memory_limit_MiB = 8000  # per job; a job past it is killed and recorded as failed
    retries = 1            # re-runs after a transient failure (worker crash), with backoff

    [[tasks]]
    name = "emt_formation_energy"

    [[tasks]]
    name = "perov5_formation_energy"
    optional = true        # skipped, with a notice, when its data is not available offline

    [[tasks]]
    name = "xrd_crystal_system"
    params = { max_test = 100 }     # passed to the task
    models = ["xrd_rf"]    # this task runs these of the suite's models (default: all that fit)
    folds = [0]            # overrides the suite's folds for this task

    [[models]]
    name = "magpie_rf"
    params = { estimator_params = { n_estimators = 300 } }

    [[models]]
    name = "xrd_rf"

    [[models]]
    label = "my-ridge"
    name = "matscibench.families.properties.models:FeaturizedModel"
    params = { featurizer = "magpie", estimator = "ridge" }

Built-in suites: ``quick`` (minutes, offline) and ``full``.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from matscibench.errors import MatscibenchError, SuiteError
from matscibench.spec import NAME_MAX_CHARS, canonical_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Suite", "TaskEntry", "ModelSpec", "load_suite", "builtin_suites"]


class TaskEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    optional: bool = False
    #: the suite's models (by label) this task runs; None: all of them that fit the task. A suite
    #: spanning families names them per task instead of planning every task x model pair.
    models: list[str] | None = None
    #: folds of this task, overriding the suite's ``folds``
    folds: list[int] | Literal["all"] | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _one_model(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    #: what one job of this model needs, e.g. {GPU = 1}; Dask places jobs by these
    resources: dict[str, float] = Field(default_factory=dict)
    #: left out, with a notice, when it cannot be built here (e.g. its package is not installed)
    optional: bool = False

    @property
    def display(self) -> str:
        return self.label or self.name


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    tasks: list[TaskEntry]
    models: list[ModelSpec]
    folds: list[int] | Literal["all"] = "all"
    repeats: int = Field(1, ge=1)
    #: first seed (numpy and PyTorch take seeds in 0 .. 2**32 - 1)
    seed: int = Field(0, ge=0, lt=2**32)
    workers: int | Literal["auto"] = "auto"
    timeout_s: float | None = Field(None, gt=0)
    #: resident-memory limit per job (MiB); a job past it is killed and recorded as failed
    memory_limit_MiB: float | None = Field(None, gt=0)
    #: times a job is run again after a transient failure (worker crash), with backoff
    retries: int = Field(1, ge=0)
    #: default resources of every job (a model's own ``resources`` add to them)
    resources: dict[str, float] = Field(default_factory=dict)
    #: harness options passed to every job: threads (per job, default 1: the numbers depend on it,
    #: so it is the suite's to set, never the machine's), latency_batch_size, latency_budget_s, ...
    options: dict[str, Any] = Field(default_factory=dict)
    #: where the suite was read from (a file path or "built-in suite 'quick'"), for error messages
    _origin: str = PrivateAttr(default="")

    @property
    def origin(self) -> str:
        return self._origin or f"suite {self.name!r}"

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks(cls, v: Any) -> Any:
        return [{"name": t} if isinstance(t, str) else t for t in (v or [])]

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, v: Any) -> Any:
        return [{"name": m} if isinstance(m, str) else m for m in (v or [])]

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any]) -> dict[str, Any]:
        t = v.get("threads", 1)
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise ValueError(f"options.threads must be a whole number >= 1 (threads per job; default 1), got {t!r}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        from matscibench.paths import check_name

        # the run id is the name plus "-" and a hash (or a timestamp with --new): room for both
        try:
            return check_name(v, "suite name", NAME_MAX_CHARS - 20)
        except MatscibenchError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check(self) -> Suite:
        if self.seed + self.repeats - 1 >= 2**32:
            raise ValueError(f"seeds {self.seed} .. {self.seed + self.repeats - 1} go past 2**32 - 1; use a smaller seed")
        for t in self.tasks:
            if len(t.name) > NAME_MAX_CHARS:
                raise ValueError(f"task name {t.name[:60]!r}… has {len(t.name)} characters; the results store holds {NAME_MAX_CHARS}")
        for m in self.models:
            if len(m.display) > NAME_MAX_CHARS:
                raise ValueError(
                    f"model label {m.display[:60]!r}… has {len(m.display)} characters; the results store holds "
                    f"{NAME_MAX_CHARS}: give the model a shorter 'label'"
                )
        if not self.tasks:
            raise ValueError("a suite needs at least one task")
        if not self.models:
            raise ValueError("a suite needs at least one model")
        labels = [m.display for m in self.models]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"model labels must be unique; repeated: {sorted(dup)} (give each a 'label')")
        if isinstance(self.folds, list) and any(f < 0 for f in self.folds):
            raise ValueError("fold indices start at 0")
        for t in self.tasks:
            unknown = [m for m in (t.models or []) if m not in labels]
            if unknown:
                raise ValueError(f"task {t.name!r} names models {unknown} that the suite does not list; "
                                 f"the suite's models: {labels}")
            if isinstance(t.folds, list) and any(f < 0 for f in t.folds):
                raise ValueError(f"task {t.name!r}: fold indices start at 0")
        return self

    def models_for(self, task: TaskEntry) -> list[ModelSpec]:
        """The models a task entry runs (its own list, else all of the suite's)."""
        if task.models is None:
            return list(self.models)
        return [m for m in self.models if m.display in task.models]

    def folds_for(self, task: TaskEntry) -> list[int] | Literal["all"]:
        return self.folds if task.folds is None else task.folds

    @property
    def seeds(self) -> list[int]:
        return [self.seed + r for r in range(self.repeats)]

    def fingerprint(self, extra: Any = None) -> str:
        """Short hash of the spec (and of ``extra``, e.g. dataset checksums)."""
        body = self.model_dump(mode="json")
        return hashlib.sha256(canonical_json([body, extra]).encode()).hexdigest()[:8]

    def default_run_id(self, extra: Any = None) -> str:
        return f"{self.name}-{self.fingerprint(extra)}"


def builtin_suites() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("matscibench").joinpath("suites").iterdir() if p.name.endswith(".toml"))


def _parse(text: str, origin: str) -> Suite:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        suite = Suite.model_validate(data)
        suite._origin = origin
        return suite
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(suite)"
            lines.append(f"  {loc}: {err['msg']}")
        raise SuiteError(f"{origin}: invalid suite:\n" + "\n".join(lines)) from None


def load_suite(name_or_path: str | Path) -> Suite:
    """A built-in suite by name (``quick``, ``full``) or a TOML file by path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise SuiteError(f"suite file {p} does not exist")
        try:
            text = p.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SuiteError(
                f"{p}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                "save the suite file as UTF-8"
            ) from None
        except OSError as exc:
            raise SuiteError(f"cannot read suite file {p}: {exc.strerror or exc}") from None
        return _parse(text, str(p))
    name = str(name_or_path)
    res = resources.files("matscibench").joinpath("suites", f"{name}.toml")
    if not res.is_file():
        raise SuiteError(f"no built-in suite {name!r}; built-in: {', '.join(builtin_suites())}, or give a .toml path")
    return _parse(res.read_text(), f"built-in suite {name!r}")
