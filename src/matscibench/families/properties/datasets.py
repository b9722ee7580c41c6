"""Datasets of the crystal-property family: embedded EMT alloys and matbench v0.1."""

from __future__ import annotations

__all__ = ["register_datasets"]


def register_datasets(register) -> None:
    from matscibench.data.base import FirstAvailable
    from matscibench.data.emt_spec import EmtAlloysSpec
    from matscibench.data.matbench import ARTIFACT_SHA256, MATBENCH_TASKS, MatbenchArtifactsSpec, MatbenchSpec

    register("emt_alloys", EmtAlloysSpec)
    for name, info in MATBENCH_TASKS.items():
        def artifacts(info=info):
            return MatbenchArtifactsSpec(info, ARTIFACT_SHA256.get(info.name))

        if info.input_type == "composition":
            # same rows and labels in both files: the official one when at hand, else the artifacts
            register(name, lambda info=info, a=artifacts: FirstAvailable([MatbenchSpec(info), a()]))
        else:
            register(name, lambda info=info: MatbenchSpec(info))
            register(f"{name}_composition", artifacts)
