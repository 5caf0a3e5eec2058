from gymnasium.spaces import Box, Dict, Discrete  # noqa: F401
