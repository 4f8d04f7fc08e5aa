"""The configuration: its typed schema (``schema``), reading and resolving YAML files (``files``), earlier key
names (``renamed_keys``) and the configuration stored in a stage checkpoint (``checkpoint``, with the original
code's layout in ``original_layout``). Below training, experiment and inference, which all read it."""
