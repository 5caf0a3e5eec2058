"""Process-wide settings the frameworks need before RLlib (and so TF or torch) is imported."""

import os


def set_framework_env(skip_tf: bool = False) -> None:
    if skip_tf:
        # RLlib imports TensorFlow whenever it is installed; a torch run does not need it.
        os.environ.setdefault("RLLIB_TEST_NO_TF_IMPORT", "1")
    # RLlib's old API stack (framework=tf2) needs Keras 2, which TF 2.16+ ships as tf-keras.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Offline W&B unless the user chose otherwise.
    os.environ.setdefault("WANDB_MODE", "offline")
