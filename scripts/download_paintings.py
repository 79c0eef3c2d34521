"""Download the course's two paintings into <data dir>/style/, each checked by its SHA-256 digest.

    python scripts/download_paintings.py https://github.com/OWNER/REPO/releases/download/paintings-v1
    COURSE_PAINTINGS_URL=... python scripts/download_paintings.py

The address is a folder that serves starry_night.jpg and the_scream.jpg, the course's exact
copies (see the book's "How to run" page). Files already in place are checked and kept.
"""

from __future__ import annotations

import argparse

from course_lib.style.images import PAINTINGS_URL_ENV, download_paintings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help=f"folder URL serving the two files (default ${PAINTINGS_URL_ENV})")
    for path in download_paintings(parser.parse_args().url):
        print(f"ready: {path}")


if __name__ == "__main__":
    main()
