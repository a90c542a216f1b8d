"""Version of the datagen distribution."""

__version__ = "0.1.0"
