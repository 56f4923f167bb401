"""KPIs from the outcome record: contacts, figures, the supervisors' report, live figures, peak model."""
