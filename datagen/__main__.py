"""``python -m datagen``: the command line (the same as the ``datagen`` script)."""

from datagen._app.entry import main

if __name__ == "__main__":
    main()
