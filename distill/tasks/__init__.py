"""Task registry: `task.name` in params picks one; stages only use the Task interface."""

from __future__ import annotations

from pathlib import Path

from distill.config import ConfigError, TaskConfig
from distill.tasks.base import Problem, Score, Task
from distill.tasks.code import CodeTask
from distill.tasks.text2sql import Text2SQLTask

TASKS: dict[str, type[Task]] = {Text2SQLTask.name: Text2SQLTask, CodeTask.name: CodeTask}


def task_class(config: TaskConfig) -> type[Task]:
    """The class `task.name` names; ConfigError naming the param and the known tasks otherwise."""
    try:
        return TASKS[config.name]
    except KeyError:
        raise ConfigError(f"params.yaml: task.name: unknown task {config.name!r}; known: {', '.join(TASKS)}") from None


def make_task(config: TaskConfig, resources_dir: str | Path, *extra_dirs: str | Path) -> Task:
    """Build the task named by `task.name`, reading resources from `resources_dir` (the prepared
    ones) and `extra_dirs` (for example databases invented during generation)."""
    cls = task_class(config)
    return cls.from_config(config, Path(resources_dir), tuple(Path(d) for d in extra_dirs))


__all__ = ["TASKS", "Problem", "Score", "Task", "make_task", "task_class"]
