"""What the Streamlit demo (app/) reads and checks: pipeline artefacts (reports/, dvc.lock, reports/costs), the
headline of each module, and the validation of a payment typed into the fraud form. The app holds no logic."""
