"""Forecasting the next step of a time series: data, windows, the model, fitting, the report,
export and verify, and ``edgernn compare``."""
