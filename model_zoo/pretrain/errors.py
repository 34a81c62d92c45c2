"""The one error of MAE pretraining."""


class PretrainError(ValueError):
    """Pretraining cannot start or go on; the message says why and what to do."""
