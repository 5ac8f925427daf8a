"""``python -m tray_app`` is ``qwen-tray``."""

import sys

from tray_app.cli import main

sys.exit(main())
