"""The `twinwatch` console command: the indexer's commands plus the service's."""

from __future__ import annotations

from indexer.cli import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
