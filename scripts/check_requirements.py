"""Exit 0 when every pinned requirement of a requirements file is installed at that version."""
import sys
from importlib import metadata


def main(path):
    for line in open(path):
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            print(f"missing: {name}")
            return 1
        if version and have != version:
            print(f"version: {name} {have} != {version}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
