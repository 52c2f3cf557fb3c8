"""DVC stage entry point: export each executed notebook as reveal.js slides (reports/slides/) and write the
walkthrough reports/index.html."""

from paylab.paths import reports_dir
from paylab.report import build_index

if __name__ == "__main__":
    print(f"report: wrote {build_index(reports_dir(), slides=True)}")
