"""Errors a user can act on. Their message is what lands in the failure file, so it names the file or key."""


class TrainingError(Exception):
    """A failure with a message meant for the user (bad input, bad setting), not a bug."""


class ConfigError(TrainingError):
    """A hyperparameter, flag, variable or config file is invalid."""


class DataError(TrainingError):
    """A data channel or one of its files cannot be used."""
