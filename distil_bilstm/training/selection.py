"""Which epoch's weights the Trainer keeps, and when it stops: the best validation score by
``select_metric``, early stopping after ``patience`` epochs without improvement."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class BestEpoch:
    """The best epoch so far and the count of epochs since; its fields go into the checkpoint
    under the names they have always had there (``best_valid_score`` …)."""

    patience: int  # 0: never stop early
    best_valid_score: float = -1.0  # of select_metric
    best_valid_accuracy: float = -1.0  # the scores of the best epoch
    best_valid_macro_f1: float = -1.0
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    best_valid_correlation: dict | None = None  # a regression task's spearman / pearson of the best epoch

    def update(self, valid: dict, *, epoch: int, select_metric: str, has_valid: bool = True) -> bool:
        """Record ``epoch``'s validation scores; True when they are the best so far. Without a
        validation split (a teacher trained on train + valid) every epoch counts as the best."""
        # the first epoch always counts: a regression's correlation is NaN while its scores are constant
        improved = not has_valid or self.best_epoch == 0 or valid[select_metric] > self.best_valid_score
        if improved:
            self.best_valid_score, self.best_epoch = valid[select_metric], epoch
            self.best_valid_accuracy, self.best_valid_macro_f1 = valid["accuracy"], valid["macro_f1"]
            self.best_valid_correlation = {k: valid[k] for k in ("spearman", "pearson") if k in valid} or None
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        return improved

    @property
    def stopped(self) -> bool:
        return bool(self.patience) and self.epochs_without_improvement >= self.patience

    def state(self) -> dict:
        state = asdict(self)
        del state["patience"]  # from the config, not progress
        return state

    def load(self, progress: dict) -> None:
        # checkpoints from before select_metric selected on accuracy and kept no macro-F1
        self.best_valid_score = progress.get("best_valid_score", progress["best_valid_accuracy"])
        self.best_valid_accuracy = progress["best_valid_accuracy"]
        self.best_valid_macro_f1 = progress.get("best_valid_macro_f1", float("nan"))
        self.best_epoch = progress["best_epoch"]
        self.best_valid_correlation = progress.get("best_valid_correlation")
        self.epochs_without_improvement = progress["epochs_without_improvement"]
