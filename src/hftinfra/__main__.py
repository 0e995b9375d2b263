import sys

from hftinfra.cli import main

sys.exit(main())
