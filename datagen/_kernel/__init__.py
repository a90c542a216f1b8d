"""The plugin kernel: hook specifications, the plugin manager, family registries, protocols and the
context a run hands to plugins."""
