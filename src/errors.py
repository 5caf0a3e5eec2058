class ConfigError(ValueError):
    """A run that cannot work as configured; the message names the fix."""
