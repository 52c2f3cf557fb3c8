"""DVC stage entry point: write reports/index.html linking notebooks, metrics and figures."""

from paylab.paths import reports_dir
from paylab.report import build_index

if __name__ == "__main__":
    print(f"report: wrote {build_index(reports_dir())}")
