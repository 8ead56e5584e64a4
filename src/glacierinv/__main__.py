"""``python -m glacierinv`` is the ``glacierinv`` command."""

from glacierinv.cli.main import main

if __name__ == "__main__":
    main()
