"""datagen's built-in plugins: each module is its own ``datagen`` entry point."""
