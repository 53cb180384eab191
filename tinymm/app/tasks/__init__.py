"""The app's tasks besides VQA (tinymm/app/train.py): image-text retrieval and image
captioning on ShapesCaptions, both trained by the one loop (tinymm/loop.py) through the
shared run machinery of ``base.py``."""

from tinymm.app.tasks.base import (
    DECODERS,
    TASKS,
    TaskConfig,
    checkpoint_task,
    evaluate_task_checkpoint,
    run_task,
)

__all__ = ["DECODERS", "TASKS", "TaskConfig", "checkpoint_task", "evaluate_task_checkpoint",
           "run_task"]
