"""The data model: records, results and their files, seeds, and the configuration."""
