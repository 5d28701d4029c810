"""`--report-to tensorboard`: a run's figures as TensorBoard event files in OUT/tensorboard,
beside metrics.jsonl (`tensorboard --logdir OUT/tensorboard`).

TRL trainers pass it on as transformers' `report_to`, and their TensorBoardCallback is
pointed at that folder: transformers 5 has no `logging_dir` argument, and writes to
$TENSORBOARD_LOGGING_DIR or else a dated folder under output_dir (here checkpoints/). Our
own loops (PPO, the reward model's vote phase) write through ScalarLog, with transformers'
tag names: "train/<key>", and "eval/<key>" for an "eval_<key>".
A resumed run adds event files to the same folder; TensorBoard reads them as one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from training.runs import RunFolder

TENSORBOARD = "tensorboard"  # the option's value, and the folder in the run


def into_run_folder(trainer: Any, run: RunFolder) -> None:
    """Point the TensorBoardCallback that `report_to="tensorboard"` gave a TRL trainer at
    OUT/tensorboard (before training: its writer opens in on_train_begin, and again for an
    evaluation after training). A trainer reporting nowhere is left as it is."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(run.root / TENSORBOARD)


def tag(key: str) -> str:
    """transformers' TensorBoard tag of a logged key (integrations.rewrite_logs).

    >>> tag("reward"), tag("eval_vote_auc")
    ('train/reward', 'eval/vote_auc')
    """
    return f"eval/{key[len('eval_') :]}" if key.startswith("eval_") else f"train/{key}"


class ScalarLog:
    """Figures of a loop of ours as TensorBoard scalars, when `report_to` asks for them;
    otherwise nothing is written (and TensorBoard is never imported)."""

    def __init__(self, run: RunFolder, report_to: str) -> None:
        self.writer: Any = None
        if report_to == TENSORBOARD:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(run.root / TENSORBOARD))

    def log(self, step: int, values: Mapping[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(tag(key), value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
