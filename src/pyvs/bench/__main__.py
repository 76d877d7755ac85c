import sys

from pyvs.bench.main import main

sys.exit(main())
