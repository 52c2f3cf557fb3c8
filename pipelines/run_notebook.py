"""DVC stage entry point: `python pipelines/run_notebook.py <stage>` runs notebooks/NN_<stage>.ipynb."""

import argparse
import sys

from paylab.stages import StageFailed, run_notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage")
    parser.add_argument("--no-track", action="store_true", help="do not log the run to MLflow")
    args = parser.parse_args()
    try:
        html = run_notebook(args.stage, track=not args.no_track)
    except StageFailed as err:
        print(err, file=sys.stderr)
        return 1
    print(f"{args.stage}: wrote {html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
