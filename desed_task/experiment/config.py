"""The configuration as the entry points read it: ``desed_task.config.files`` (kept under this name for the
command-line tools that import it from here)."""
from desed_task.config.files import (  # noqa: F401
    DATA_PATH_KEYS, DEFAULT_ENCODER, EXTRA_SUBSET_KINDS, ConfigError, defaults, load_config, read_yaml,
    resolve_config, set_dotted, yaml_problem,
)
