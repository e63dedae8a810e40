import sys

from emostream.cli import main

sys.exit(main())
