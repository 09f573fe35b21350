"""Refresh the example files embedded in docs/plugins.md (``make docs``).

Each ``<!-- example: PATH -->`` marker is followed by a fenced block that must equal PATH;
tests/test_docs.py fails when they drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"(<!-- example: (\S+) -->\n```\w+\n)(.*?)(```\n)", re.S)


def main() -> None:
    text = GUIDE.read_text()
    fresh = BLOCK.sub(lambda m: m.group(1) + (ROOT / m.group(2)).read_text() + m.group(4), text)
    if fresh != text:
        GUIDE.write_text(fresh)
        print(f"updated {GUIDE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
